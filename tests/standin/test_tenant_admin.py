"""Tenant-admin routes that tests use to shape the organization template as an admin would in Logto's Console:
routes/organization-role/index.ts (POST / with organizationScopeIds + resourceScopeIds, createRoleWithScopes),
routes/organization-scope/index.ts (GET /), routes/resource.scope.ts (GET /resources/:resourceId/scopes)."""

from tests.standin.conftest import API_RESOURCE


def test_a_created_role_carries_both_namespaces_and_shows_in_the_role_list(logto):
    org_scopes = {s["name"]: s["id"] for s in logto.api("GET", "/organization-scopes").get_json()}
    resource = next(r for r in logto.api("GET", "/resources").get_json() if r["indicator"] == API_RESOURCE)
    api_scopes = logto.api("GET", f"/resources/{resource['id']}/scopes").get_json()
    assert all(s["resourceId"] == resource["id"] for s in api_scopes)
    api_ids = {s["name"]: s["id"] for s in api_scopes}
    created = logto.api(
        "POST",
        "/organization-roles",
        json={
            "name": "auditor",
            "organizationScopeIds": [org_scopes["member:read"]],
            "resourceScopeIds": [api_ids["member:read"]],
        },
    )
    assert created.status_code == 201 and created.get_json()["type"] == "User"
    listed = next(
        r
        for r in logto.api("GET", "/organization-roles", query_string={"page_size": 100}).get_json()
        if r["name"] == "auditor"
    )
    assert [s["name"] for s in listed["scopes"]] == ["member:read"]
    assert [(s["name"], s["resource"]["id"]) for s in listed["resourceScopes"]] == [("member:read", resource["id"])]


def test_duplicate_names_and_unknown_scopes_are_422(logto):
    """Logto: unique name index (entity.unique_integrity_violation); relation insert with an unknown id fails its
    foreign key (entity.relation_foreign_key_not_found)."""
    assert logto.api("POST", "/organization-roles", json={"name": "admin"}).get_json()["code"] == (
        "entity.unique_integrity_violation"
    )
    unknown = logto.api("POST", "/organization-roles", json={"name": "x", "organizationScopeIds": ["nope"]})
    assert unknown.status_code == 422 and unknown.get_json()["code"] == "entity.relation_foreign_key_not_found"
    assert "x" not in {
        r["name"] for r in logto.api("GET", "/organization-roles", query_string={"page_size": 100}).get_json()
    }


# -- the write routes `make logto-setup` uses (local/logto/tenant_admin_routes.py) --------------------------------------
def test_resources_and_their_permissions_are_created_as_logto_creates_them(logto):
    """routes/resource.ts POST /resources: 201 with `scopes: []`, 422 resource.resource_identifier_in_use for an
    indicator in use. routes/resource.scope.ts POST /resources/:id/scopes: 201; 422 scope.name_exists
    (per resource); 400 scope.name_with_space; 400 resource.cannot_modify_management_api; 404 for an unknown resource."""
    created = logto.api("POST", "/resources", json={"name": "Billing", "indicator": "https://billing.example"})
    assert created.status_code == 201 and created.get_json()["scopes"] == []
    resource = created.get_json()
    again = logto.api("POST", "/resources", json={"name": "Again", "indicator": "https://billing.example"})
    assert again.status_code == 422 and again.get_json()["code"] == "resource.resource_identifier_in_use"
    scope = logto.api("POST", f"/resources/{resource['id']}/scopes", json={"name": "bill:read", "description": "d"})
    assert scope.status_code == 201 and scope.get_json()["resourceId"] == resource["id"]
    codes = [
        logto.api("POST", f"/resources/{resource['id']}/scopes", json={"name": "bill:read"}),
        logto.api("POST", f"/resources/{resource['id']}/scopes", json={"name": "bill read"}),
        logto.api("POST", "/resources/management-api/scopes", json={"name": "x"}),
        logto.api("POST", "/resources/nope/scopes", json={"name": "x"}),
    ]
    assert [(r.status_code, r.get_json()["code"]) for r in codes] == [
        (422, "scope.name_exists"),
        (400, "scope.name_with_space"),
        (400, "resource.cannot_modify_management_api"),
        (404, "entity.not_exists_with_id"),
    ]


def test_organization_permissions_and_a_role_s_relations(logto):
    """organization-scope/index.ts (SchemaRouter POST /: 201; unique name: 422 entity.unique_integrity_violation);
    organization-role/index.ts addRelationRoutes 'scopes' / 'resource-scopes' (utils/SchemaRouter.ts): GET with optional
    pagination (Total-Number when asked), POST {organizationScopeIds | scopeIds} 201 (a held one is ignored), DELETE 204, then 404."""
    created = logto.api("POST", "/organization-scopes", json={"name": "bill:read", "description": None})
    assert created.status_code == 201 and created.get_json()["name"] == "bill:read"
    duplicate = logto.api("POST", "/organization-scopes", json={"name": "bill:read"})
    assert duplicate.status_code == 422 and duplicate.get_json()["code"] == "entity.unique_integrity_violation"
    role = logto.role_id("member")
    body = {"organizationScopeIds": [created.get_json()["id"]]}
    assert logto.api("POST", f"/organization-roles/{role}/scopes", json=body).status_code == 201
    assert logto.api("POST", f"/organization-roles/{role}/scopes", json=body).status_code == 201
    listed = logto.api("GET", f"/organization-roles/{role}/scopes", query_string={"page_size": 1})
    assert listed.headers["Total-Number"] == "2" and len(listed.get_json()) == 1
    unknown = logto.api("POST", f"/organization-roles/{role}/resource-scopes", json={"scopeIds": ["nope"]})
    assert unknown.status_code == 422 and unknown.get_json()["code"] == "entity.relation_foreign_key_not_found"
    path = f"/organization-roles/{role}/scopes/{created.get_json()['id']}"
    assert logto.api("DELETE", path).status_code == 204
    assert logto.api("DELETE", path).status_code == 404
    assert logto.api("GET", "/organization-roles/nope/resource-scopes").status_code == 404


def test_global_roles_are_created_and_given_permissions_as_logto_does(logto):
    """role.ts GET /roles: koaPagination() (always Total-Number), with usersCount; POST /roles answers 200 (the route
    sets no status), 422 role.name_in_use. role.scope.ts POST /roles/:id/scopes: 201 with the role's scopes, 422
    role.scope_exists for one it holds; DELETE /roles/:id/scopes/:scopeId 204."""
    roles = logto.api("GET", "/roles", query_string={"page_size": 1})
    assert roles.status_code == 200 and int(roles.headers["Total-Number"]) >= 2 and len(roles.get_json()) == 1
    creator = next(r for r in logto.api("GET", "/roles").get_json() if r["name"] == "creator")
    assert creator["usersCount"] == 3 and creator["type"] == "User"
    created = logto.api("POST", "/roles", json={"name": "biller", "description": "Bills"})
    assert created.status_code == 200 and created.get_json()["isDefault"] is False
    taken = logto.api("POST", "/roles", json={"name": "biller", "description": "Bills"})
    assert taken.status_code == 422 and taken.get_json()["code"] == "role.name_in_use"
    resource = next(r for r in logto.api("GET", "/resources").get_json() if r["indicator"] == API_RESOURCE)
    scope = next(
        s for s in logto.api("GET", f"/resources/{resource['id']}/scopes").get_json() if s["name"] == "org:create"
    )
    role = created.get_json()["id"]
    added = logto.api("POST", f"/roles/{role}/scopes", json={"scopeIds": [scope["id"]]})
    assert added.status_code == 201 and [s["name"] for s in added.get_json()] == ["org:create"]
    again = logto.api("POST", f"/roles/{role}/scopes", json={"scopeIds": [scope["id"]]})
    assert again.status_code == 422 and again.get_json()["code"] == "role.scope_exists"
    assert logto.api("DELETE", f"/roles/{role}/scopes/{scope['id']}").status_code == 204
    assert logto.api("GET", f"/roles/{role}/scopes").get_json() == []
