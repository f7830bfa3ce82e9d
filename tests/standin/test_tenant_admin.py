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
