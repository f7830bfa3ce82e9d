"""401/403 through API Gateway semantics: nothing that fails authorization reaches an operation or Logto."""

from __future__ import annotations

import time

import pytest

DEMO = "demo0org0001"


def management_calls(stack) -> int:
    return stack.logto_stats()["management_requests"]


def test_health_needs_no_token(stack):
    response = stack.call("GET", "/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic abc", "bearer a.b.c", "Bearer a.b", "Bearer a.b.c d"])
def test_missing_or_malformed_header_is_401_before_the_authorizer(stack, header):
    before = stack.gateway_stats()["authorizerInvocations"]
    headers = {} if header is None else {"Authorization": header}
    response = stack.call("GET", f"/organizations/{DEMO}", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized", "code": "unauthorized"}
    assert stack.gateway_stats()["authorizerInvocations"] == before


def test_forged_expired_and_wrong_audience_tokens_are_401_with_no_logto_call(stack):
    now = int(time.time())
    base = {
        "sub": "alice",
        "iat": now,
        "exp": now + 600,
        "iss": f"{stack.logto}/oidc",
        "client_id": "x",
        "aud": f"urn:logto:organization:{DEMO}",
        "scope": "member:read",
    }
    good = stack.sign(base)
    tampered = good[:-6] + ("AAAAAA" if not good.endswith("AAAAAA") else "BBBBBB")
    tokens = [
        tampered,
        stack.sign({**base, "exp": now - 5, "iat": now - 600}),
        stack.sign({**base, "aud": "https://somebody-else.example"}),
        stack.sign({**base, "iss": f"{stack.logto}/oidc/"}),
        stack.sign({**base, "aud": "urn:logto:organization:*"}),
        stack.sign(base, header={"kid": "unknown-kid"}),
        stack.sign(base, header={"crit": ["exp"]}),
    ]
    before = management_calls(stack)
    for token in tokens:
        response = stack.call("GET", f"/organizations/{DEMO}/members", token)
        assert response.status_code == 401, (tokens.index(token), response.text)
        assert response.json()["message"] == "Unauthorized"
    assert management_calls(stack) == before
    assert stack.call("GET", f"/organizations/{DEMO}/members", good).status_code == 200


def test_missing_permission_and_other_organization_are_403_with_no_logto_call(stack):
    bob = stack.token("organization", "bob", DEMO)  # member role: member:read only
    before = management_calls(stack)
    forbidden = [
        ("POST", f"/organizations/{DEMO}/members", {"userIds": ["carol"]}),
        ("DELETE", f"/organizations/{DEMO}", None),
        ("PATCH", f"/organizations/{DEMO}", {"name": "x"}),
        ("GET", f"/organizations/{DEMO}/invitations", None),
        ("GET", "/organizations/someotherorg/members", None),
        ("GET", "/organizations/someotherorg", None),
        ("POST", "/organizations", {"name": "x"}),  # an organization token cannot create organizations
    ]
    for method, path, body in forbidden:
        response = stack.call(method, path, bob, json=body)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["code"] == "forbidden"
    assert management_calls(stack) == before
    assert stack.call("GET", f"/organizations/{DEMO}/members", bob).status_code == 200


def test_global_token_cannot_reach_organization_routes(stack):
    carol = stack.token("global_api", "carol")
    for path in (f"/organizations/{DEMO}", f"/organizations/{DEMO}/members"):
        assert stack.call("GET", path, carol).status_code == 403
    dave = stack.token("global_api", "dave")  # no org:create
    assert stack.call("POST", "/organizations", dave, json={"name": "nope"}).status_code == 403
    assert stack.call("GET", "/organizations", dave).status_code == 200  # any valid global token may list its own


def test_authorizer_result_is_cached_per_token_and_right_for_every_route(stack):
    token = stack.token("organization", "alice", DEMO, scopes=["member:read"])
    before = stack.gateway_stats()["authorizerInvocations"]
    assert stack.call("GET", f"/organizations/{DEMO}/members", token).status_code == 200
    assert stack.call("GET", f"/organizations/{DEMO}/members", token).status_code == 200
    assert stack.call("GET", f"/organizations/{DEMO}", token).status_code == 200  # another route, same cached policy
    assert stack.call("GET", f"/organizations/{DEMO}/roles", token).status_code == 200
    assert stack.call("GET", "/organizations/otherorg123/members", token).status_code == 403  # cached policy, other org
    assert stack.call("DELETE", f"/organizations/{DEMO}", token).status_code == 403  # not in its scopes
    assert stack.gateway_stats()["authorizerInvocations"] == before + 1


def test_rs256_token_after_key_rotation(stack):
    token = stack.token("organization", "alice", DEMO, alg="RS256")
    assert stack.call("GET", f"/organizations/{DEMO}", token).status_code == 200


def test_organization_api_token(stack):
    token = stack.token("organization_api", "alice", DEMO)
    assert stack.call("GET", f"/organizations/{DEMO}/members", token).status_code == 200
    assert stack.call("GET", "/organizations/otherorg123/members", token).status_code == 403
    assert stack.call("GET", "/organizations", token).status_code == 403


def test_unknown_route_is_json(stack):
    response = stack.call("GET", "/nope")
    assert response.status_code in (403, 404)
    assert set(response.json()) == {"message", "code"}
