"""Sign-in through the stand-in: authorization code + PKCE, the refresh_token grant's three token kinds, and what real
Logto 1.42 refuses. Sources (logto-io/logto): packages/core/src/oidc/init.ts (PKCE S256 only, refresh-token rotation,
refresh tokens only with offline_access), oidc/grants/refresh-token.ts and oidc/grants/utils.ts (organization tokens,
403 access_denied), node-oidc-provider's authorization_code grant (single-use codes, 60 s), and
notes/logto-observed.md "Tokens" (the claims of each token, in order)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from local.logto.credentials import SEEDED_PASSWORD, SPA_APP_ID

from .conftest import API_RESOURCE, DEMO, claims

CONSOLE = "http://127.0.0.1:3001"  # create_app's default console_url: its SPA app's redirect URI is <console>/callback
REDIRECT = f"{CONSOLE}/callback"
ISSUER = "http://logto.test/oidc"
SCOPES = "openid offline_access profile urn:logto:scope:organizations urn:logto:scope:organization_roles"
PERMISSIONS = "org:create org:update member:read member:invite"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize(client: Any, challenge: str, **params: Any) -> Any:
    query = {
        "client_id": SPA_APP_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "st4te",
        "prompt": "consent",
        "scope": f"{SCOPES} {PERMISSIONS}",
        "resource": [API_RESOURCE, "urn:logto:resource:organizations"],
        **params,
    }
    return client.get("/oidc/auth", query_string={k: v for k, v in query.items() if v is not None})


def sign_in_code(client: Any, user: str = "alice", **params: Any) -> tuple[str, str]:
    """authorize → the sign-in form → back at the redirect URI with a code; returns (code, verifier)."""
    verifier, challenge = pkce()
    answer = authorize(client, challenge, **params)
    assert answer.status_code == 303
    form_url = answer.headers["Location"]
    assert form_url.startswith("/sign-in?uid=")
    page = client.get(form_url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="username"' in html and 'name="password"' in html
    uid = re.search(r'name="uid" value="([^"]+)"', html).group(1)
    signed = client.post("/sign-in", data={"uid": uid, "username": user, "password": SEEDED_PASSWORD})
    assert signed.status_code == 303
    back = client.get(urlsplit(signed.headers["Location"]).path)  # /oidc/auth/<uid> on the issuer
    assert back.status_code == 303  # notes/logto-observed.md: back to the redirect URI with a 303
    location = back.headers["Location"]
    assert location.startswith(f"{REDIRECT}?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["st4te"] and query["iss"] == [ISSUER]
    return query["code"][0], verifier


def exchange(client: Any, code: str, verifier: str, **overrides: Any) -> Any:
    data = {
        "grant_type": "authorization_code",
        "client_id": SPA_APP_ID,
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": REDIRECT,
        **overrides,
    }
    return client.post("/oidc/token", data=data)


def refresh(client: Any, refresh_token: str, **params: Any) -> Any:
    data = {"grant_type": "refresh_token", "client_id": SPA_APP_ID, "refresh_token": refresh_token, **params}
    return client.post("/oidc/token", data=data)


@pytest.fixture
def tokens(logto) -> dict[str, Any]:
    code, verifier = sign_in_code(logto.client)
    answer = exchange(logto.client, code, verifier)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


def test_discovery_has_what_the_browser_sdk_reads(logto):
    """@logto/js fetchOidcConfig: authorization, token, userinfo, end-session, revocation endpoints and jwks_uri."""
    config = logto.client.get("/oidc/.well-known/openid-configuration").get_json()
    assert config["issuer"] == ISSUER
    for key, path in (
        ("authorization_endpoint", "/auth"),
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/me"),
        ("end_session_endpoint", "/session/end"),
        ("revocation_endpoint", "/token/revocation"),
        ("jwks_uri", "/jwks"),
    ):
        assert config[key] == ISSUER + path
    assert config["code_challenge_methods_supported"] == ["S256"]


def test_the_console_app_is_listed_with_its_redirect_uris_and_the_password(logto):
    info = logto.client.get("/__dev/info").get_json()
    assert info["password"] == SEEDED_PASSWORD
    app = next(a for a in info["spaApps"] if a["id"] == SPA_APP_ID)
    assert app["redirectUris"] == [REDIRECT]
    assert app["postLogoutRedirectUris"] == [f"{CONSOLE}/"]
    assert SPA_APP_ID in [a["id"] for a in info["applications"]]


def test_code_exchange_gives_id_refresh_and_access_tokens(tokens):
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    assert tokens["refresh_token"]
    id_claims = claims(tokens["id_token"])
    assert id_claims["sub"] == "alice" and id_claims["aud"] == SPA_APP_ID and id_claims["iss"] == ISSUER
    assert id_claims["username"] == "alice"
    # RFC 0001 claims, asked for with urn:logto:scope:organizations / organization_roles
    assert id_claims["organizations"] == [DEMO]
    assert id_claims["organization_roles"] == [f"{DEMO}:admin"]


def test_id_token_has_no_organization_claims_unless_asked(logto):
    code, verifier = sign_in_code(logto.client, scope="openid offline_access profile")
    id_claims = claims(exchange(logto.client, code, verifier).get_json()["id_token"])
    assert "organizations" not in id_claims and "organization_roles" not in id_claims


def test_refresh_token_grant_gives_each_token_kind_with_logtos_claims(logto, tokens):
    """notes/logto-observed.md "Tokens": claim names and order; scope = roles' permissions among those asked for."""
    answer = refresh(logto.client, tokens["refresh_token"], organization_id=DEMO)
    assert answer.status_code == 200
    org = claims(answer.get_json()["access_token"])
    assert list(org) == ["jti", "sub", "iat", "exp", "scope", "client_id", "iss", "aud"]
    assert org["aud"] == f"urn:logto:organization:{DEMO}" and org["client_id"] == SPA_APP_ID
    # admin's organization permissions, only those the app asked for at sign-in
    assert set(org["scope"].split()) == {"org:create", "org:update", "member:read", "member:invite"}

    answer = refresh(logto.client, answer.get_json()["refresh_token"], organization_id=DEMO, resource=API_RESOURCE)
    org_api = claims(answer.get_json()["access_token"])
    assert list(org_api) == ["organization_id", "jti", "sub", "iat", "exp", "scope", "client_id", "iss", "aud"]
    assert org_api["organization_id"] == DEMO and org_api["aud"] == API_RESOURCE

    answer = refresh(logto.client, answer.get_json()["refresh_token"], resource=API_RESOURCE)
    global_api = claims(answer.get_json()["access_token"])
    assert list(global_api) == ["jti", "sub", "iat", "exp", "scope", "client_id", "iss", "aud"]
    assert global_api["aud"] == API_RESOURCE
    assert set(global_api["scope"].split()) == {"org:create", "org:update", "member:read", "member:invite"}
    # the token verifies with the stand-in's keys, as the API's authorizer checks it
    assert logto.client.application.config["keys"].verify(answer.get_json()["access_token"], ISSUER, API_RESOURCE)


def test_a_token_without_a_scope_asked_for_carries_none_of_it(logto):
    """An SPA that asks for no API permission gets tokens with "scope": "" (notes/logto-observed.md)."""
    code, verifier = sign_in_code(logto.client, scope=SCOPES)
    rt = exchange(logto.client, code, verifier).get_json()["refresh_token"]
    org = claims(refresh(logto.client, rt, organization_id=DEMO).get_json()["access_token"])
    assert org["scope"] == ""


def test_non_member_asking_for_an_organization_token_gets_403_access_denied(logto):
    code, verifier = sign_in_code(logto.client, user="carol")
    rt = exchange(logto.client, code, verifier).get_json()["refresh_token"]
    answer = refresh(logto.client, rt, organization_id=DEMO)
    assert answer.status_code == 403
    body = answer.get_json()
    assert body["code"] == "oidc.access_denied" and body["error"] == "access_denied"
    assert body["error_description"] == "user is not a member of the organization"
    # the refused request did not use the refresh token up
    assert refresh(logto.client, rt, resource=API_RESOURCE).status_code == 200


def test_refresh_tokens_rotate_and_a_reused_one_ends_the_grant(logto, tokens):
    first = tokens["refresh_token"]
    answer = refresh(logto.client, first, resource=API_RESOURCE)
    second = answer.get_json()["refresh_token"]
    assert second and second != first
    reused = refresh(logto.client, first, resource=API_RESOURCE)
    assert reused.status_code == 400 and reused.get_json()["error"] == "invalid_grant"
    # "refresh token already used" revokes the grant: the rotated token stops working too
    assert refresh(logto.client, second, resource=API_RESOURCE).status_code == 400


def test_unregistered_redirect_uri_is_refused_on_the_spot(logto):
    """Not redirected: the redirect URI cannot be trusted (node-oidc-provider invalid_redirect_uri)."""
    answer = authorize(logto.client, pkce()[1], redirect_uri="http://evil.example/callback")
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "invalid_redirect_uri"
    assert "Location" not in answer.headers


def test_unknown_client_id_is_refused(logto):
    answer = authorize(logto.client, pkce()[1], client_id="not-an-app")
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_client"
    code, verifier = sign_in_code(logto.client)
    answer = exchange(logto.client, code, verifier, client_id="not-an-app")
    assert answer.status_code == 401 and answer.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize("params", [{"code_challenge_method": "plain"}, {"code_challenge_method": None}])
def test_plain_pkce_is_refused(logto, params):
    """init.ts pkce.methods: ['S256']; a missing method means plain (RFC 7636 §4.3). Back to the app with the error."""
    verifier = secrets.token_urlsafe(48)  # plain: the challenge is the verifier itself
    answer = authorize(logto.client, verifier, **params)
    assert answer.status_code == 303
    location = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert location["error"] == ["invalid_request"] and location["state"] == ["st4te"]
    assert "code" not in location


def test_missing_pkce_is_refused(logto):
    answer = authorize(logto.client, "", code_challenge="")
    location = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert location["error"] == ["invalid_request"]


def test_wrong_code_verifier_is_refused(logto):
    code, _ = sign_in_code(logto.client)
    answer = exchange(logto.client, code, secrets.token_urlsafe(48))
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_grant"


def test_reused_code_is_refused_and_revokes_what_it_gave(logto):
    code, verifier = sign_in_code(logto.client)
    first = exchange(logto.client, code, verifier)
    assert first.status_code == 200
    again = exchange(logto.client, code, verifier)
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"
    assert refresh(logto.client, first.get_json()["refresh_token"], resource=API_RESOURCE).status_code == 400


def test_expired_code_is_refused(logto):
    assert logto.client.post("/__dev/oidc", json={"codeTtl": 0}).status_code == 200
    code, verifier = sign_in_code(logto.client)
    answer = exchange(logto.client, code, verifier)
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_grant"


def test_code_for_another_redirect_uri_is_refused(logto):
    code, verifier = sign_in_code(logto.client)
    answer = exchange(logto.client, code, verifier, redirect_uri=f"{CONSOLE}/elsewhere")
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_grant"


def test_wrong_password_shows_the_form_again(logto):
    answer = authorize(logto.client, pkce()[1])
    uid = parse_qs(urlsplit(answer.headers["Location"]).query)["uid"][0]
    page = logto.client.post("/sign-in", data={"uid": uid, "username": "alice", "password": "nope"})
    assert page.status_code == 422 and "Incorrect username or password" in page.get_data(as_text=True)
    assert "Set-Cookie" not in page.headers


def test_a_signed_in_browser_skips_the_form_until_it_signs_out(logto, tokens):
    """The session cookie: a second authorization goes straight back with a code; after end session it does not."""
    answer = authorize(logto.client, pkce()[1])
    assert answer.headers["Location"].startswith(f"{ISSUER}/auth/")
    ended = logto.client.get(
        "/oidc/session/end", query_string={"client_id": SPA_APP_ID, "post_logout_redirect_uri": f"{CONSOLE}/"}
    )
    assert ended.status_code == 303 and ended.headers["Location"] == f"{CONSOLE}/"
    assert authorize(logto.client, pkce()[1]).headers["Location"].startswith("/sign-in?uid=")


def test_end_session_refuses_an_unregistered_post_logout_redirect_uri(logto):
    answer = logto.client.get(
        "/oidc/session/end",
        query_string={"client_id": SPA_APP_ID, "post_logout_redirect_uri": "http://evil.example/"},
    )
    assert answer.status_code == 400 and "Location" not in answer.headers


def test_revoked_refresh_token_is_refused(logto, tokens):
    """@logto/browser signOut() revokes the refresh token first (revocation_endpoint)."""
    rt = tokens["refresh_token"]
    assert logto.client.post("/oidc/token/revocation", data={"client_id": SPA_APP_ID, "token": rt}).status_code == 200
    assert refresh(logto.client, rt, resource=API_RESOURCE).status_code == 400


def test_short_access_token_ttl_setting(logto, tokens):
    assert logto.client.post("/__dev/oidc", json={"accessTokenTtl": 5}).get_json()["accessTokenTtl"] == 5
    answer = refresh(logto.client, tokens["refresh_token"], resource=API_RESOURCE).get_json()
    assert answer["expires_in"] == 5
    token = claims(answer["access_token"])
    assert token["exp"] - token["iat"] == 5


def test_token_endpoint_answers_the_console_origin_for_cors(logto, tokens):
    """init.ts clientBasedCORS: the origin of a client's redirect URI may read the token endpoint's answers."""
    answer = logto.client.post(
        "/oidc/token",
        data={"grant_type": "refresh_token", "client_id": SPA_APP_ID, "refresh_token": tokens["refresh_token"]},
        headers={"Origin": CONSOLE},
    )
    assert answer.headers["Access-Control-Allow-Origin"] == CONSOLE
    other = logto.client.get("/oidc/me", headers={"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    assert logto.client.get("/oidc/jwks", headers={"Origin": CONSOLE}).headers["Access-Control-Allow-Origin"] == "*"


def test_userinfo_with_the_code_grants_access_token(logto, tokens):
    answer = logto.client.get("/oidc/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert answer.status_code == 200 and answer.get_json()["sub"] == "alice"
