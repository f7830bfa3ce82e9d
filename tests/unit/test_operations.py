"""Operation handlers in-process (no gateway): the Logto stand-in over loopback, Secrets Manager and DynamoDB in moto.
Covers what the gateway cannot show: defence in depth, compensation, the secret's failure modes, events/ files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.logto.credentials import M2M_APP_ID, M2M_APP_SECRET
from orgapi.contract.routes import ROUTES
from tests.unit.conftest import Context

ROOT = Path(__file__).resolve().parents[2]
DEMO = "demo0org0001"
JSON_ONLY = {"Content-Type": "application/json"}  # no Idempotency-Key
ALL = "org:update org:delete member:read member:add member:remove role:assign member:invite audit:read"


def event(name, *, body=None, authorizer=None, path=None, headers=None, query=None):
    base = json.loads((ROOT / "events" / f"{name}.json").read_text())
    if body is not None:
        base["body"] = body if isinstance(body, str) else json.dumps(body)
    if authorizer is not None:
        base["requestContext"]["authorizer"] = authorizer
    if path:
        base["pathParameters"].update(path)
        resource = base["resource"]
        for key, value in base["pathParameters"].items():
            resource = resource.replace("{" + key + "}", value)
        base["path"] = resource
    if headers is not None:
        base["headers"] = headers
    if query is not None:
        base["queryStringParameters"] = query
    return base


def org_context(org=DEMO, scopes=ALL, sub="alice", exp="4102444800", kind="organization"):
    return {
        "principalId": sub,
        "sub": sub,
        "clientId": "spa",
        "organizationId": org,
        "scopes": scopes,
        "tokenKind": kind,
        "exp": exp,
    }


def call(handlers, name, **kwargs):
    response = handlers(name)(event(name, **kwargs), Context())
    body = json.loads(response["body"]) if response.get("body") else None
    headers = dict(response.get("headers") or {})
    headers.update({k: v[-1] for k, v in (response.get("multiValueHeaders") or {}).items() if v})
    return response["statusCode"], body, headers


@pytest.mark.parametrize("route", [r for r in ROUTES if r.name != "revoke_invitation"], ids=lambda r: r.name)
def test_every_sample_event_works(handlers, route):
    status, body, _ = call(handlers, route.name)
    assert status < 400, body


def test_defence_in_depth_when_the_gateway_let_something_through(handlers, logto):
    before = logto.stats()["management_requests"]
    assert call(handlers, "list_members", authorizer=org_context(org="someoneelse"))[0] == 403
    assert call(handlers, "list_members", authorizer=org_context(scopes="org:update"))[0] == 403
    assert call(handlers, "list_members", authorizer=org_context(kind="global_api"))[0] == 403
    assert call(handlers, "list_members", authorizer=org_context(exp="1000"))[0] == 401  # cached Allow past exp
    assert call(handlers, "list_members", authorizer={})[0] == 401  # no authorizer in front
    assert logto.stats()["management_requests"] == before


def test_creator_becomes_admin_and_a_failed_step_deletes_the_organization(handlers, logto):
    status, org, _ = call(handlers, "create_organization", headers=JSON_ONLY)
    assert status == 201 and org["organizationRoles"][0]["name"] == "admin"
    logto.fault(pathPrefix="/api/organizations/", method="POST", status=422, times=1)
    status, _, _ = call(handlers, "create_organization", headers=JSON_ONLY, body={"name": "Doomed"})
    assert status == 422
    names = [o["name"] for o in logto.client.get("/__dev/info").get_json()["organizations"]]
    assert "Doomed" not in names and "Acme Robotics" in names  # compensated: no orphan
    routes = logto.stats()["routes"]
    assert any(k.startswith("DELETE /api/organizations/") for k in routes)


def test_m2m_app_cannot_create_an_organization(handlers):
    context = {
        "principalId": "app1",
        "sub": "app1",
        "clientId": "app1",
        "organizationId": "",
        "scopes": "org:create",
        "tokenKind": "global_api",
        "exp": "4102444800",
    }
    status, body, _ = call(handlers, "create_organization", authorizer=context)
    # refused by the live check (an application has no global user roles) or, with it off, by the operation
    assert status == 403 and body["code"] in ("missing_permission", "user_token_required")


def test_missing_or_malformed_secret_is_503_not_a_stack_trace(handlers, aws):
    aws.secrets.put_secret_value(SecretId="m2m", SecretString="not json")
    status, body, headers = call(handlers, "get_organization")
    assert status == 503 and body["code"] == "m2m_credentials_unavailable" and headers["Retry-After"]
    aws.secrets.put_secret_value(SecretId="m2m", SecretString=json.dumps({"appId": "x"}))
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    assert call(handlers, "get_organization")[0] == 503


def test_rotated_secret_is_picked_up_after_logto_rejects_the_cached_one(handlers, aws, logto):
    from aws_lambda_powertools.utilities import parameters

    aws.secrets.put_secret_value(SecretId="m2m", SecretString=json.dumps({"appId": M2M_APP_ID, "appSecret": "old"}))
    parameters.clear_caches()
    parameters.get_secret("m2m", transform="json", max_age=300)  # the stale value sits in the cache
    aws.secrets.put_secret_value(
        SecretId="m2m", SecretString=json.dumps({"appId": M2M_APP_ID, "appSecret": M2M_APP_SECRET})
    )
    assert call(handlers, "get_organization")[0] == 200
    assert logto.stats()["token_requests"] == 2  # rejected once, then accepted with the re-read secret


def test_one_m2m_token_for_many_invocations(handlers, logto):
    for _ in range(50):
        assert call(handlers, "get_organization")[0] == 200
    assert logto.stats()["token_requests"] == 1


def test_idempotency_replay_and_conflicts(handlers, logto):
    key = {"Idempotency-Key": "k-123", "Content-Type": "application/json"}
    first = call(handlers, "create_organization", headers=key)
    second = call(handlers, "create_organization", headers=key)
    assert first[0] == second[0] == 201 and first[1] == second[1]
    assert logto.stats()["routes"].get("POST /api/organizations") == 1
    changed = call(handlers, "create_organization", headers=key, body={"name": "Other"})
    assert changed[0] == 422 and changed[1]["code"] == "idempotency_key_reused"
    bad = call(handlers, "create_organization", headers={**JSON_ONLY, "Idempotency-Key": "has space"})
    assert bad[0] == 400


def test_invitation_body_cannot_choose_organization_inviter_or_expiry(handlers, logto):
    status, body, _ = call(handlers, "create_invitation", body={"invitee": "x@example.com", "organizationId": "other"})
    assert status == 400
    status, body, _ = call(handlers, "create_invitation", body={"invitee": "y@example.com", "expiresInDays": 365})
    assert status == 400
    status, body, _ = call(handlers, "create_invitation", body={"invitee": "z@example.com"})
    assert status == 201 and body["organizationId"] == DEMO and body["inviterId"] == "alice"


def test_members_response_omits_sensitive_fields(handlers):
    status, members, headers = call(handlers, "list_members")
    assert status == 200 and headers["Total-Number"] == "2"
    for member in members:
        assert not {"identities", "customData", "primaryPhone", "profile", "isSuspended"} & set(member)


def test_orphan_guard_counts_other_creators(handlers):
    # bob becomes admin too, then alice may step down; bob, the last admin now, may not leave
    assert call(handlers, "replace_member_roles", body={"roleNames": ["admin"]})[0] == 200
    assert call(handlers, "replace_member_roles", path={"userId": "alice"}, body={"roleNames": ["member"]})[0] == 200
    status, body, _ = call(handlers, "remove_member", path={"userId": "bob"}, authorizer=org_context(sub="bob"))
    assert status == 409 and body["code"] == "last_creator"


def test_unexpected_errors_are_a_json_500(handlers, monkeypatch):
    from orgapi.logto.management import ManagementApi

    monkeypatch.setattr(ManagementApi, "get_organization", lambda *a, **k: 1 / 0)
    status, body, _ = call(handlers, "get_organization")
    assert status == 500 and body == {"message": "Internal server error", "code": "internal_error"}


def test_bodies_are_validated(handlers):
    cases = [
        ("update_organization", "{}"),
        ("update_organization", '{"name": null}'),
        ("add_members", '{"userIds": []}'),
        ("add_members", '{"userIds": ["a", "a"]}'),
        ("add_members", json.dumps({"userIds": ["u"] * 101})),
        ("replace_member_roles", '{"roleNames": "admin"}'),
        ("create_invitation", '{"invitee": "not-an-email"}'),
        ("create_organization", "x" * 70000),
        ("create_organization", "[" * 60000),
        ("create_organization", '{"name": "x", "customData": ' + "[" * 3000 + "]" * 3000 + "}"),
    ]
    for name, body in cases:
        status, response, _ = call(handlers, name, body=body)
        assert status == 400, (name, body[:40], response)
        assert set(response) == {"message", "code"}
