"""Tokens as Logto issues them (oidc/init.ts getResourceServerInfoCore → oidc/resource.ts findResourceScopes with
findFromOrganizations: true → libraries/user.ts findUserScopesForResourceIndicator; notes/logto-observed.md
"Tokens")."""

from tests.standin.conftest import API_RESOURCE, DEMO


def test_a_global_token_carries_global_role_permissions_of_the_api_resource_only(logto):
    """findUserScopesForResourceIndicator filters every scope by the resource indicator
    (findScopesByIdsAndResourceIndicator): dave's `partner` role grants `org:create` of ANOTHER API, which never
    reaches a token for API_RESOURCE."""
    assert logto.scope("global_api", "carol") == {"org:create"}
    assert logto.scope("global_api", "dave") == set()
    token = logto.mint("global_api", "erin")
    assert token["scope"] == "" and token["aud"] == API_RESOURCE and "organization_id" not in token


def test_a_global_token_carries_organization_role_api_permissions_of_every_organization(logto):
    """logto-observed.md "A global API token carries organization permissions": without organization_id the scope
    includes the resource's permissions of the user's organization roles in every organization
    (findFromOrganizations: true; user-role-relations.ts getUserResourceScopes without organizationId). erin has no
    global role; holding, in some organization, a role with `org:create` as an API permission (set up by hand the
    dangerous way; the description never gives it) she gets `org:create` and the role's API permissions anyway."""
    org = logto.api("POST", "/organizations", json={"name": "Erin Co"}).get_json()["id"]
    logto.add_role("legacy-admin", org_permissions=["org:create"], api_permissions=["org:create", "org:delete"])
    logto.join(org, "erin", "legacy-admin", "admin")
    scope = logto.scope("global_api", "erin")
    assert "org:create" in scope and {"org:delete", "role:assign"} <= scope
    logto.join(DEMO, "dave", "member")  # member's other-API org:create stays out
    assert logto.scope("global_api", "dave") == {"member:read"}


def test_an_organization_api_token_adds_global_role_permissions(logto):
    """logto-observed.md: "An organization API token also carries the user's global-role permissions for that
    resource" (findUserScopesForResourceIndicator: rolesScopes + org-role scopes narrowed to organizationId)."""
    assert logto.scope("organization_api", "bob", DEMO) == {"member:read", "org:create"}  # member + creator role
    logto.join(DEMO, "erin", "member")
    token = logto.mint("organization_api", "erin", DEMO)
    assert token["scope"] == "member:read" and token["organization_id"] == DEMO and token["aud"] == API_RESOURCE
    org = logto.api("POST", "/organizations", json={"name": "Other"}).get_json()["id"]
    logto.join(org, "erin", "admin")  # an admin elsewhere: not in this organization's token
    assert logto.scope("organization_api", "erin", DEMO) == {"member:read"}


def test_an_organization_token_carries_organization_permissions(logto):
    """grants/refresh-token.ts + utils.ts handleOrganizationToken: organization permissions of the user's roles in
    that organization; the seeded admin role includes `org:create`. Requested scopes narrow it; a non-member gets
    403 (logto-observed.md: `oidc.access_denied`, "user is not a member of the organization")."""
    alice = logto.mint("organization", "alice", DEMO)
    assert "org:create" in alice["scope"].split() and alice["aud"] == f"urn:logto:organization:{DEMO}"
    assert "organization_id" not in alice
    assert logto.scope("organization", "bob", DEMO) == {"member:read"}
    assert logto.scope("organization", "alice", DEMO, scopes=["member:read", "nope"]) == {"member:read"}
    refused = logto.client.post(
        "/__dev/tokens", json={"kind": "organization", "userId": "carol", "organizationId": DEMO}
    )
    assert refused.status_code == 403


def test_an_application_gets_organization_tokens_from_its_organization_roles(logto):
    """grants/client-credentials.ts: an app in the organization gets an organization token with its organization
    roles' scopes (appsRoles.getApplicationScopes), or with `resource` its roles' API scopes
    (getApplicationResourceScopes); `sub == client_id == appId`; an app not in the organization is refused
    (AccessDenied 'app has not associated with the organization')."""
    org_token = logto.mint("organization", org=DEMO, applicationId="demo-m2m-app")
    assert org_token["sub"] == org_token["client_id"] == "demo-m2m-app"
    assert org_token["scope"] == "member:read" and org_token["aud"] == f"urn:logto:organization:{DEMO}"
    api_token = logto.mint("organization_api", org=DEMO, applicationId="demo-m2m-app")
    assert api_token["scope"] == "member:read" and api_token["organization_id"] == DEMO
    assert api_token["sub"] == api_token["client_id"] == "demo-m2m-app"
    org = logto.api("POST", "/organizations", json={"name": "Elsewhere"}).get_json()["id"]
    body = {"kind": "organization", "applicationId": "demo-m2m-app", "organizationId": org}
    assert logto.client.post("/__dev/tokens", json=body).status_code == 403
