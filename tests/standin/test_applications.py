"""Machine callers in organizations (routes/organization/application/index.ts, role-relations.ts)."""

from tests.standin.conftest import DEMO

APP = "demo-m2m-app"


def test_an_application_in_the_organization_has_its_roles(logto):
    """role-relations.ts `GET /:id/applications/:applicationId/roles`: OrganizationRoles rows (no scopes), pagination
    optional; the seeded app holds the MachineToMachine role `automation`."""
    roles = logto.api("GET", f"/organizations/{DEMO}/applications/{APP}/roles").get_json()
    assert [(r["name"], r["type"]) for r in roles] == [("automation", "MachineToMachine")]
    assert set(roles[0]) == {"tenantId", "id", "name", "description", "type"}
    listed = logto.api("GET", f"/organizations/{DEMO}/applications").get_json()
    assert [(a["id"], [r["name"] for r in a["organizationRoles"]]) for a in listed] == [(APP, ["automation"])]


def test_an_application_outside_the_organization_is_422_require_membership(logto):
    """role-relations.ts: the `router.use(pathname, ...)` guard throws `organization.require_membership` (422) when
    the app is not in the organization, as the user variant does."""
    org = logto.api("POST", "/organizations", json={"name": "No apps"}).get_json()["id"]
    response = logto.api("GET", f"/organizations/{org}/applications/{APP}/roles")
    assert response.status_code == 422 and response.get_json()["code"] == "organization.require_membership"


def test_applications_get_only_machine_to_machine_roles(logto):
    """tables/organization_role_application_relations.sql: check constraint `..._role_type` (MachineToMachine only),
    answered 422 `entity.db_constraint_violated` (koa-slonik-error-handler.ts). Removing the app drops its roles
    (foreign key on organization_application_relations, on delete cascade)."""
    path = f"/organizations/{DEMO}/applications/{APP}/roles"
    refused = logto.api("POST", path, json={"organizationRoleIds": [logto.role_id("member")]})
    assert refused.status_code == 422 and refused.get_json()["code"] == "entity.db_constraint_violated"
    assert logto.api("DELETE", f"/organizations/{DEMO}/applications/{APP}").status_code == 204
    assert logto.api("GET", path).status_code == 422
    assert logto.api("POST", f"/organizations/{DEMO}/applications", json={"applicationIds": [APP]}).status_code == 201
    assert logto.api("GET", path).get_json() == []
