"""Subject tokens and the token-exchange grant as Logto 1.42 serves them: routes/subject-token.ts,
oidc/grants/token-exchange/index.ts and account.ts, oidc/utils.ts getConstantClientMetadata (the grant only for an app
with `customClientMetadata.allowTokenExchange`), notes/logto-observed.md "Tokens" (the same claims as the organization,
organization API and global API tokens; a subject token is consumed by its first exchange; a non-member asking for an
organization gets 403 `oidc.access_denied`). Also the user and application routes `make smoke` sets up with."""

import base64

from local.logto.token_exchange import ACCESS_TOKEN_TYPE, GRANT_TYPE
from orgapi.contract.routes import ROUTES
from tests.standin.conftest import API_RESOURCE, DEMO, claims

ALL = " ".join(sorted({r.permission for r in ROUTES if r.permission}))  # every permission the seed knows


def _app(logto, allow: bool = True, **extra) -> tuple[str, str]:
    body = {
        "name": "smoke",
        "type": "Traditional",
        "oidcClientMetadata": {"redirectUris": ["http://localhost/callback"], "postLogoutRedirectUris": []},
        "customClientMetadata": {"allowTokenExchange": allow},
        **extra,
    }
    created = logto.api("POST", "/applications", json=body)
    assert created.status_code == 200 and "secret" not in created.get_json()
    app_id = created.get_json()["id"]
    secrets = logto.api("GET", f"/applications/{app_id}/secrets").get_json()
    return app_id, secrets[0]["value"]


def _subject(logto, user: str) -> str:
    answer = logto.api("POST", "/subject-tokens", json={"userId": user})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["subjectToken"].startswith("sub_") and body["expiresIn"] == 600
    return body["subjectToken"]


def _exchange(logto, client: tuple[str, str], subject: str, **params):
    basic = base64.b64encode(f"{client[0]}:{client[1]}".encode()).decode()
    form = {"grant_type": GRANT_TYPE, "subject_token": subject, "subject_token_type": ACCESS_TOKEN_TYPE, **params}
    return logto.client.post("/oidc/token", data=form, headers={"Authorization": f"Basic {basic}"})


def test_an_organization_token_by_exchange_has_the_refresh_grant_claims(logto):
    client = _app(logto)
    answer = _exchange(logto, client, _subject(logto, "alice"), organization_id=DEMO, scope=ALL)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    token = claims(body["access_token"])
    minted = logto.mint("organization", "alice", DEMO)
    assert set(token) == set(minted) and "act" not in token and "organization_id" not in token
    assert token["aud"] == f"urn:logto:organization:{DEMO}" and token["sub"] == "alice"
    assert token["client_id"] == client[0] and set(token["scope"].split()) == set(minted["scope"].split())


def test_api_tokens_by_exchange_carry_what_the_roles_grant_for_the_resource(logto):
    client = _app(logto)
    org_api = claims(
        _exchange(
            logto, client, _subject(logto, "bob"), organization_id=DEMO, resource=API_RESOURCE, scope=ALL
        ).get_json()["access_token"]
    )
    assert org_api["organization_id"] == DEMO and org_api["aud"] == API_RESOURCE
    assert (
        set(org_api["scope"].split()) == logto.scope("organization_api", "bob", DEMO) == {"member:read", "org:create"}
    )
    global_api = claims(
        _exchange(logto, client, _subject(logto, "carol"), resource=API_RESOURCE, scope=ALL).get_json()["access_token"]
    )
    assert "organization_id" not in global_api and global_api["scope"] == "org:create"


def test_the_issued_scope_is_what_was_asked_for_among_what_is_granted(logto):
    """requestParamScopes: without `scope` the token carries no permission; unknown names are dropped."""
    client = _app(logto)
    bare = _exchange(logto, client, _subject(logto, "alice"), organization_id=DEMO).get_json()
    assert bare["scope"] == "" and claims(bare["access_token"])["scope"] == ""
    narrowed = _exchange(logto, client, _subject(logto, "alice"), organization_id=DEMO, scope="member:read nope")
    assert narrowed.get_json()["scope"] == "member:read"


def test_a_subject_token_is_consumed_by_its_first_exchange(logto):
    client = _app(logto)
    subject = _subject(logto, "alice")
    assert _exchange(logto, client, subject, organization_id=DEMO, scope=ALL).status_code == 200
    again = _exchange(logto, client, subject, organization_id=DEMO, scope=ALL)
    assert again.status_code == 400 and again.get_json()["code"] == "oidc.invalid_grant"
    assert again.get_json()["error_description"] == "grant request is invalid"  # the reason is not told
    unknown = _exchange(logto, client, "sub_nope", organization_id=DEMO)
    assert unknown.status_code == 400 and unknown.get_json()["error"] == "invalid_grant"


def test_a_non_member_asking_for_an_organization_is_refused_and_keeps_the_subject_token(logto):
    client = _app(logto)
    subject = _subject(logto, "carol")
    refused = _exchange(logto, client, subject, organization_id=DEMO, scope=ALL)
    assert refused.status_code == 403 and refused.get_json()["code"] == "oidc.access_denied"
    assert _exchange(logto, client, subject, resource=API_RESOURCE, scope=ALL).status_code == 200


def test_only_an_app_allowed_token_exchange_may_exchange(logto):
    """oidc/utils.ts: the grant type is in the client's grant_types only with allowTokenExchange; oidc-provider
    refuses others (on Logto 1.42: 400 invalid_request). A third-party app cannot enable it (422)."""
    plain = _app(logto, allow=False)
    refused = _exchange(logto, plain, _subject(logto, "alice"), organization_id=DEMO)
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_request"
    assert refused.get_json()["error_description"] == "requested grant type is not allowed for this client"
    app_id, _ = _app(logto)
    assert _exchange(logto, (app_id, "wrong"), _subject(logto, "alice"), organization_id=DEMO).status_code == 401
    third = logto.api(
        "POST",
        "/applications",
        json={
            "name": "x",
            "type": "Traditional",
            "isThirdParty": True,
            "customClientMetadata": {"allowTokenExchange": True},
        },
    )
    assert third.status_code == 422
    assert third.get_json()["code"] == "application.third_party_application_cannot_enable_token_exchange"
    assert logto.api("DELETE", f"/applications/{app_id}").status_code == 204
    assert _exchange(logto, (app_id, "x"), _subject(logto, "alice"), organization_id=DEMO).status_code == 400


def test_subject_tokens_need_management_api_access_and_a_known_user(logto):
    assert logto.client.post("/api/subject-tokens", json={"userId": "alice"}).status_code == 401
    assert logto.api("POST", "/subject-tokens", json={}).status_code == 400
    unknown = logto.api("POST", "/subject-tokens", json={"userId": "nobody"})  # Logto 1.42: 404, this code
    assert unknown.status_code == 404 and unknown.get_json()["code"] == "entity.relation_foreign_key_not_found"


def test_throwaway_users_are_created_and_deleted_with_their_memberships(logto):
    created = logto.api("POST", "/users", json={"username": "smoke_user", "primaryEmail": "smoke@example.com"})
    assert created.status_code == 200
    user = created.get_json()["id"]
    assert logto.api("POST", "/users", json={"username": "SMOKE_user"}).status_code == 200  # exact, as Logto
    taken = logto.api("POST", "/users", json={"username": "smoke_user"})
    assert taken.status_code == 422 and taken.get_json()["code"] == "user.username_already_in_use"
    logto.join(DEMO, user, "member")
    assert logto.api("DELETE", f"/users/{user}").status_code == 204
    assert logto.api("GET", f"/users/{user}").status_code == 404
    members = logto.api("GET", f"/organizations/{DEMO}/users", query_string={"page_size": 100}).get_json()
    assert user not in {m["id"] for m in members}
    again = logto.api("DELETE", f"/users/{user}")
    assert again.status_code == 404 and again.get_json()["code"] == "entity.not_found"


def test_a_throwaway_user_can_be_given_a_global_role(logto):
    """routes/admin-user/role.ts: POST /users/{id}/roles `{roleIds}` → 201; the role's API scopes reach a global
    API token (the smoke's creator gets `org:create` this way)."""
    roles = logto.api("GET", "/roles").get_json()
    creator = next(r["id"] for r in roles if r["name"] == "creator")
    user = logto.api("POST", "/users", json={"username": "smoke_creator"}).get_json()["id"]
    assert logto.scope("global_api", user) == set()
    assert logto.api("POST", f"/users/{user}/roles", json={"roleIds": [creator]}).status_code == 201
    assert logto.scope("global_api", user) == {"org:create"}
    assert logto.api("POST", f"/users/{user}/roles", json={"roleIds": ["nope"]}).status_code == 404


def test_an_app_that_signs_users_in_needs_a_redirect_uri_even_for_token_exchange(logto):
    """Logto 1.42, seen: a Traditional app created without redirect URIs cannot use the token endpoint at all
    (oidc-provider's client metadata validation: 400 invalid_redirect_uri "redirect_uris must contain members")."""
    client = _app(logto, oidcClientMetadata={"redirectUris": [], "postLogoutRedirectUris": []})
    refused = _exchange(logto, client, _subject(logto, "alice"), organization_id=DEMO, scope=ALL)
    assert refused.status_code == 400 and refused.get_json()["code"] == "oidc.invalid_redirect_uri"


def test_a_request_without_a_subject_token_or_for_an_unknown_resource_is_refused(logto):
    """Logto 1.42 (seen): 400 invalid_request "missing required parameter 'subject_token'"; an unknown resource is
    400 invalid_target "resource indicator is missing, or unknown"."""
    client = _app(logto)
    basic = base64.b64encode(f"{client[0]}:{client[1]}".encode()).decode()
    missing = logto.client.post(
        "/oidc/token",
        data={"grant_type": GRANT_TYPE, "subject_token_type": ACCESS_TOKEN_TYPE},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert missing.status_code == 400
    assert missing.get_json()["error_description"] == "missing required parameter 'subject_token'"
    unknown = _exchange(logto, client, _subject(logto, "alice"), resource="https://nope.example.com", scope=ALL)
    assert unknown.status_code == 400 and unknown.get_json()["code"] == "oidc.invalid_target"
