"""Global (user) roles, API resources and scopes with their resource (routes/admin-user/role.ts, routes/role.scope.ts,
routes/resource.ts, libraries/scope.ts attachResourceToScopes, queries/organization/index.ts)."""

from tests.standin.conftest import API_RESOURCE, DEMO

OTHER = "https://other.example.com/api"


def resource_ids(logto):
    return {r["indicator"]: r["id"] for r in logto.api("GET", "/resources").get_json()}


def test_resources_list_every_resource_with_its_indicator(logto):
    """routes/resource.ts `GET /resources`: koaPagination({isOptional: true}); Resources.guard rows (indicator,
    isDefault, accessTokenTtl); Logto's own Management API is a resource too."""
    resources = logto.api("GET", "/resources").get_json()
    assert {r["indicator"] for r in resources} >= {API_RESOURCE, OTHER, "https://default.logto.app/api"}
    assert all({"id", "name", "indicator", "isDefault", "accessTokenTtl"} <= set(r) for r in resources)
    page = logto.api("GET", "/resources", query_string={"page": 1, "page_size": 1})
    assert len(page.get_json()) == 1 and page.headers["Total-Number"] == str(len(resources))


def test_user_roles_are_paginated_with_total_number(logto):
    """routes/admin-user/role.ts `GET /users/:userId/roles`: koaPagination() (not optional, so always a
    Total-Number), only `type: User` roles, 404 for an unknown user (findUserById)."""
    alice = logto.api("GET", "/users/alice/roles")
    assert [r["name"] for r in alice.get_json()] == ["creator"] and alice.headers["Total-Number"] == "1"
    assert set(alice.get_json()[0]) == {"tenantId", "id", "name", "description", "type", "isDefault"}
    assert [r["name"] for r in logto.api("GET", "/users/dave/roles").get_json()] == ["partner"]
    erin = logto.api("GET", "/users/erin/roles")
    assert erin.get_json() == [] and erin.headers["Total-Number"] == "0"
    missing = logto.api("GET", "/users/nobody/roles")
    assert missing.status_code == 404 and missing.get_json()["code"] == "entity.not_exists_with_id"
    assert logto.api("GET", "/users/alice/roles", query_string={"page_size": 101}).status_code == 400


def test_role_scopes_carry_their_resource(logto):
    """routes/role.scope.ts `GET /roles/:id/scopes` → libraries/scope.ts attachResourceToScopes: each scope has
    `resourceId` and the whole `resource` (with `indicator`). The same scope name exists on two resources, so only
    the resource tells the service's `org:create` from another API's."""
    ids = resource_ids(logto)
    creator = logto.api("GET", "/users/alice/roles").get_json()[0]
    [scope] = logto.api("GET", f"/roles/{creator['id']}/scopes").get_json()
    assert scope["name"] == "org:create"
    assert scope["resourceId"] == ids[API_RESOURCE] == scope["resource"]["id"]
    assert scope["resource"]["indicator"] == API_RESOURCE
    partner = logto.api("GET", "/users/dave/roles").get_json()[0]
    [trap] = logto.api("GET", f"/roles/{partner['id']}/scopes").get_json()
    assert trap["name"] == "org:create" and trap["resource"]["indicator"] == OTHER
    assert logto.api("GET", "/roles/nope/scopes").status_code == 404


def test_users_may_have_no_primary_email(logto):
    """routes/admin-user/basics.ts `GET /users/:userId`: the user profile (userInfoSelectFields + hasPassword);
    `primaryEmail` is nullable (tables/users.sql)."""
    erin = logto.api("GET", "/users/erin").get_json()
    assert erin["id"] == "erin" and erin["primaryEmail"] is None and erin["hasPassword"] is False
    assert logto.api("GET", "/users/dave").get_json()["primaryEmail"] == "dave@example.com"
    assert logto.api("GET", "/users/nobody").get_json()["code"] == "entity.not_exists_with_id"


def test_organization_roles_name_the_real_resource_of_each_api_permission(logto):
    """queries/organization/index.ts #findWithScopesSql: `resourceScopes` items are
    `{id, name, resource: {id, name}}` joined from the scope's resource. The seeded admin role (tenant/description.yaml)
    carries `org:create` as an organization permission only (the seed's "organization token with org:create"
    pattern), its other permissions in both namespaces; the member role carries another API's `org:create`."""
    ids = resource_ids(logto)
    roles = {r["name"]: r for r in logto.api("GET", "/organization-roles", query_string={"page": 1}).get_json()}
    admin = roles["admin"]
    assert "org:create" in {s["name"] for s in admin["scopes"]}
    api = {(s["name"], s["resource"]["id"]) for s in admin["resourceScopes"]}
    assert ("org:delete", ids[API_RESOURCE]) in api and ("org:create", ids[API_RESOURCE]) not in api
    assert all(set(s["resource"]) == {"id", "name"} for s in admin["resourceScopes"])
    member = {(s["name"], s["resource"]["id"]) for s in roles["member"]["resourceScopes"]}
    assert member == {("member:read", ids[API_RESOURCE]), ("org:create", ids[OTHER])}
    assert logto.api("GET", f"/organizations/{DEMO}/users/alice/roles").get_json()[0]["name"] == "admin"
