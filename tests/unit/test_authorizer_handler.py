"""The authorizer Lambda end to end in-process: event in, policy or the exact 'Unauthorized' error out, with a real
JWKS fetch over loopback. Logs carry a reason code and never the token."""

from __future__ import annotations

import importlib
import json
import sys
from types import SimpleNamespace

import pytest

from orgapi.contract.routes import ROUTES
from tests.support.http_stub import StubServer
from tests.support.iam import evaluate, method_arn
from tests.support.jwt_factory import API_RESOURCE, ORG, SigningKey, token

KEY = SigningKey.generate("k1")
CONTEXT = SimpleNamespace(
    function_name="authorizer",
    memory_limit_in_mb=256,
    invoked_function_arn="arn:aws:lambda:eu-west-1:1:function:a",
    aws_request_id="req-1",
)


@pytest.fixture
def jwks_server():
    state = {"status": 200, "delay": 0.0}
    server = StubServer({"/oidc/jwks": lambda: (state["status"], {"keys": [KEY.public_jwk()]}, state["delay"])})
    server.state = state
    yield server
    server.close()


@pytest.fixture
def handler(jwks_server, monkeypatch):
    issuer = f"{jwks_server.url}/oidc"
    monkeypatch.setenv("LOGTO_ENDPOINT", jwks_server.url)
    monkeypatch.setenv("API_RESOURCE", API_RESOURCE)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "authorizer")
    monkeypatch.syspath_prepend("functions/authorizer")
    sys.modules.pop("app", None)
    module = importlib.import_module("app")
    module.issuer = issuer
    yield module
    sys.modules.pop("app", None)


def event(tok, method="GET", path=f"/organizations/{ORG}/members"):
    return {"type": "TOKEN", "authorizationToken": f"Bearer {tok}", "methodArn": method_arn(method, path)}


def org_token(handler, **claims):
    return token(KEY, {"iss": handler.issuer, **claims})


def test_valid_token_gets_a_policy_for_all_its_routes(handler, log_lines, capsys):
    tok = org_token(handler, scope="member:read")
    response = handler.lambda_handler(event(tok), CONTEXT)
    assert response["principalId"] == "user1"
    document = response["policyDocument"]
    assert evaluate(document, method_arn("GET", f"/organizations/{ORG}/members")) == "allow"
    assert evaluate(document, method_arn("GET", f"/organizations/{ORG}")) == "allow"
    assert evaluate(document, method_arn("POST", f"/organizations/{ORG}/members")) == "implicit_deny"
    logs = log_lines()
    text = json.dumps(logs)
    assert tok not in text and tok.split(".")[1] not in text
    decision = next(line for line in logs if line.get("message") == "authorizer_decision")
    assert decision["decision"] == "allow" and decision["reason"] == "ok" and decision["sub"] == "user1"


@pytest.mark.parametrize("bad,reason", [("garbage", "malformed"), ("", "missing_token")])
def test_bad_tokens_raise_exactly_unauthorized(handler, log_lines, bad, reason):
    ev = event("x")
    ev["authorizationToken"] = bad
    with pytest.raises(Exception) as info:
        handler.lambda_handler(ev, CONTEXT)
    assert str(info.value) == "Unauthorized" and type(info.value) is Exception
    assert [line["reason"] for line in log_lines() if line.get("message") == "authorizer_decision"] == [reason]


def test_expired_token_reason_is_logged_without_the_token(handler, log_lines):
    tok = org_token(handler, iat=1000, exp=2000)
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        handler.lambda_handler(event(tok), CONTEXT)
    logs = log_lines()
    assert [line["reason"] for line in logs if line.get("message") == "authorizer_decision"] == ["expired"]
    assert tok not in json.dumps(logs)


def test_unreachable_jwks_is_an_error_not_a_401(handler, jwks_server):
    jwks_server.state["status"] = 503
    with pytest.raises(Exception) as info:
        handler.lambda_handler(event(org_token(handler)), CONTEXT)
    assert str(info.value) != "Unauthorized"


def test_previous_callers_keys_do_not_leak_into_the_next_log(handler, log_lines):
    handler.lambda_handler(event(org_token(handler, sub="alice")), CONTEXT)
    assert any(line.get("sub") == "alice" for line in log_lines())
    with pytest.raises(Exception):
        handler.lambda_handler(event("bad"), CONTEXT)
    logs = log_lines()
    assert logs and "alice" not in json.dumps(logs)


def test_global_token_on_organization_route_gets_no_allow(handler):
    tok = org_token(handler, aud=API_RESOURCE, scope="org:create")
    document = handler.lambda_handler(event(tok, "POST", "/organizations"), CONTEXT)["policyDocument"]
    assert evaluate(document, method_arn("POST", "/organizations")) == "allow"
    for route in ROUTES:
        if route.organization_scoped:
            path = route.path.replace("{organizationId}", ORG).replace("{userId}", "u").replace("{invitationId}", "i")
            assert evaluate(document, method_arn(route.method, path)) != "allow"
