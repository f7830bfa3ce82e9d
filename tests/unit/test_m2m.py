"""The M2M token cache: one token across invocations, refresh near expiry, 401 -> refresh once, rotated secrets."""

from __future__ import annotations

import base64
import threading
import time
from urllib.parse import parse_qs

import pytest
import responses

from orgapi.base.config import load_settings
from orgapi.base.deadline import Deadline
from orgapi.base.errors import ServiceUnavailable, UpstreamError
from orgapi.logto.http import HttpSender, LogtoError
from orgapi.logto.m2m import EXPIRY_SKEW_SECONDS, M2MTokenProvider
from orgapi.logto.management import ManagementApi
from orgapi.logto.secrets import M2MCredentials
from orgapi.logto.upstream import api_error

SETTINGS = load_settings({"LOGTO_ENDPOINT": "https://tenant.logto.app", "M2M_SECRET_ID": "s"})
TOKEN_URL = "https://tenant.logto.app/oidc/token"
API_URL = "https://tenant.logto.app/api/organizations/o1"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def provider(clock=None, secrets=None):
    loads = []
    secrets = secrets or [M2MCredentials("app", "secret")]

    def load(force):
        loads.append(force)
        return secrets[min(len(loads) - 1, len(secrets) - 1)] if force else secrets[0]

    p = M2MTokenProvider(SETTINGS, HttpSender(sleep=lambda s: None), load, clock=clock or Clock())
    return p, loads


def token_response(token="t1", expires_in=3600, scope="all"):
    return {"access_token": token, "expires_in": expires_in, "token_type": "Bearer", "scope": scope}


@responses.activate
def test_one_token_request_for_a_thousand_calls():
    responses.post(TOKEN_URL, json=token_response())
    p, _ = provider()
    assert {p.token(Deadline.after(5)) for _ in range(1000)} == {"t1"}
    assert len(responses.calls) == 1
    request = responses.calls[0].request
    form = parse_qs(request.body)
    assert form == {
        "grant_type": ["client_credentials"],
        "resource": ["https://tenant.logto.app/api"],
        "scope": ["all"],
    }
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"app:secret").decode()


@responses.activate
def test_refreshed_shortly_before_expiry():
    responses.post(TOKEN_URL, json=token_response("t1"))
    responses.post(TOKEN_URL, json=token_response("t2"))
    clock = Clock()
    p, _ = provider(clock)
    assert p.token(Deadline.after(5)) == "t1"
    clock.now += 3600 - EXPIRY_SKEW_SECONDS - 1
    assert p.token(Deadline.after(5)) == "t1"
    clock.now += 2
    assert p.token(Deadline.after(5)) == "t2"


@responses.activate
def test_short_lived_token_is_not_cached():
    responses.post(TOKEN_URL, json=token_response("a", expires_in=60))
    responses.post(TOKEN_URL, json=token_response("b", expires_in=60))
    p, _ = provider()
    assert [p.token(Deadline.after(5)), p.token(Deadline.after(5))] == ["a", "b"]


@responses.activate
def test_rejected_secret_is_re_read_once():
    responses.post(TOKEN_URL, status=401, json={"error": "invalid_client", "code": "oidc.invalid_client"})
    responses.post(TOKEN_URL, json=token_response("fresh"))
    p, loads = provider(secrets=[M2MCredentials("app", "old"), M2MCredentials("app", "new")])
    assert p.token(Deadline.after(5)) == "fresh"
    assert loads == [False, True]
    assert base64.b64decode(responses.calls[1].request.headers["Authorization"][6:]) == b"app:new"


@responses.activate
def test_rejected_twice_is_a_clean_503_with_retry_after():
    responses.post(TOKEN_URL, status=401, json={"error": "invalid_client"})
    responses.post(TOKEN_URL, status=401, json={"error": "invalid_client"})
    p, _ = provider()
    with pytest.raises(ServiceUnavailable) as info:
        p.token(Deadline.after(5))
    assert info.value.code == "logto_auth_failed" and len(responses.calls) == 2
    assert info.value.retry_after == SETTINGS.m2m_rejected_cooldown_seconds


@responses.activate
def test_rejected_credentials_are_not_hammered():
    """Finding 5: 5 requests with a secret Logto keeps refusing made 5 forced secret reads and 10 token requests.
    Now: one forced re-read and two token requests per cooldown, then 503 + Retry-After without calling anyone."""
    responses.post(TOKEN_URL, status=401, json={"error": "invalid_client", "code": "oidc.invalid_client"})
    clock = Clock()
    p, loads = provider(clock)
    retry_afters = []
    for _ in range(5):
        with pytest.raises(ServiceUnavailable) as info:
            p.token(Deadline.after(5))
        retry_afters.append(info.value.retry_after)
        clock.now += 1
    assert loads.count(True) == 1 and len(responses.calls) == 2
    assert retry_afters == [30, 29, 28, 27, 26]
    clock.now += 30  # cooldown over: one more round (a fixed secret is picked up), then quiet again
    with pytest.raises(ServiceUnavailable):
        p.token(Deadline.after(5))
    assert loads.count(True) == 2 and len(responses.calls) == 4


@responses.activate
def test_a_fixed_secret_is_used_after_the_cooldown():
    responses.post(TOKEN_URL, status=401, json={"error": "invalid_client"})
    responses.post(TOKEN_URL, status=401, json={"error": "invalid_client"})
    responses.post(TOKEN_URL, json=token_response("ok"))
    clock = Clock()
    p, _ = provider(clock, secrets=[M2MCredentials("app", "old"), M2MCredentials("app", "new")])
    with pytest.raises(ServiceUnavailable):
        p.token(Deadline.after(5))
    clock.now += 31
    assert p.token(Deadline.after(5)) == "ok"


@responses.activate
def test_token_endpoint_5xx_is_retried():
    responses.post(TOKEN_URL, status=503)
    responses.post(TOKEN_URL, json=token_response())
    p, _ = provider()
    assert p.token(Deadline.after(5)) == "t1"


@responses.activate
def test_scope_other_than_all_is_warned_about(log_lines):
    responses.post(TOKEN_URL, json=token_response(scope=""))
    p, _ = provider()
    p.token(Deadline.after(5))
    logs = log_lines()
    assert any(line.get("message") == "m2m_token_scope_not_all" for line in logs)
    assert "t1" not in str(logs)


@responses.activate
def test_management_401_drops_the_token_and_retries_once():
    responses.post(TOKEN_URL, json=token_response("stale"))
    responses.post(TOKEN_URL, json=token_response("fresh"))
    responses.get(API_URL, status=401)
    responses.get(API_URL, json={"id": "o1"})
    p, _ = provider()
    api = ManagementApi(SETTINGS, HttpSender(sleep=lambda s: None), p)
    assert api.get_organization("o1", Deadline.after(5)) == {"id": "o1"}
    assert [c.request.headers["Authorization"] for c in responses.calls if c.request.url == API_URL] == [
        "Bearer stale",
        "Bearer fresh",
    ]


@responses.activate
def test_management_401_twice_gives_up():
    responses.post(TOKEN_URL, json=token_response("a"))
    responses.post(TOKEN_URL, json=token_response("b"))
    responses.get(API_URL, status=401)
    responses.get(API_URL, status=401)
    p, _ = provider()
    api = ManagementApi(SETTINGS, HttpSender(sleep=lambda s: None), p)
    with pytest.raises(LogtoError) as info:
        api.get_organization("o1", Deadline.after(5))
    assert info.value.status == 401 and isinstance(api_error(info.value), UpstreamError)
    assert len([c for c in responses.calls if c.request.url == API_URL]) == 2


@responses.activate
def test_concurrent_callers_share_one_token_request():
    def slow(request):
        time.sleep(0.05)
        return 200, {}, '{"access_token": "t", "expires_in": 3600, "scope": "all"}'

    responses.add_callback(responses.POST, TOKEN_URL, callback=slow)
    p, _ = provider()
    threads = [threading.Thread(target=p.token, args=(Deadline.after(5),)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(responses.calls) == 1


def test_credentials_never_show_in_repr():
    assert "secret-value" not in repr(M2MCredentials("app", "secret-value"))


@responses.activate
def test_revoke_uses_the_status_route_and_falls_back_to_delete_without_it():
    responses.post(TOKEN_URL, json=token_response())
    base = "https://tenant.logto.app/api/organization-invitations/i1"
    responses.put(
        f"{base}/status", json={"id": "i1", "organizationId": "o1", "invitee": "a@example.com", "status": "Revoked"}
    )
    p, _ = provider()
    api = ManagementApi(SETTINGS, HttpSender(sleep=lambda s: None), p)
    api.revoke_invitation("i1", Deadline.after(5))
    assert [c.request.method for c in responses.calls[1:]] == ["PUT"]
    responses.reset()
    responses.put(f"{base}/status", status=405)
    responses.delete(base, status=204)
    api.revoke_invitation("i1", Deadline.after(5))
    assert [c.request.method for c in responses.calls] == ["PUT", "DELETE"]


@responses.activate
def test_role_assignment_uses_the_bulk_route_and_falls_back_per_user():
    responses.post(TOKEN_URL, json=token_response())
    base = "https://tenant.logto.app/api/organizations/o1/users"
    responses.post(f"{base}/roles", status=201)
    p, _ = provider()
    api = ManagementApi(SETTINGS, HttpSender(sleep=lambda s: None), p)
    api.assign_roles("o1", ["u1", "u2"], ["r1"], Deadline.after(5))
    assert [c.request.url for c in responses.calls[1:]] == [f"{base}/roles"]
    responses.reset()
    responses.post(f"{base}/roles", status=404)
    responses.post(f"{base}/u1/roles", status=201)
    responses.post(f"{base}/u2/roles", status=201)
    api.assign_roles("o1", ["u1", "u2"], ["r1"], Deadline.after(5))
    assert [c.request.url for c in responses.calls] == [f"{base}/roles", f"{base}/u1/roles", f"{base}/u2/roles"]
    responses.reset()
    responses.post(f"{base}/roles", status=422, json={"code": "entity.relation_foreign_key_not_found"})
    with pytest.raises(LogtoError) as info:
        api.assign_roles("o1", ["ghost"], ["r1"], Deadline.after(5))
    assert api_error(info.value).code == "unknown_reference"
