"""The M2M token cache: one token across invocations, refresh near expiry, 401 -> refresh once, rotated secrets."""

from __future__ import annotations

import base64
import threading
import time
from urllib.parse import parse_qs

import pytest

from orgapi.base.config import Settings, load_settings
from orgapi.base.deadline import Deadline
from orgapi.base.errors import ServiceUnavailable, UpstreamError
from orgapi.logto.http import HttpSender, LogtoError
from orgapi.logto.m2m import EXPIRY_SKEW_SECONDS, M2MTokenProvider
from orgapi.logto.management import ManagementApi
from orgapi.logto.secrets import M2MCredentials
from orgapi.logto.upstream import api_error

TOKEN = "/oidc/token"
API = "/api/organizations/o1"


def settings(double) -> Settings:
    """Logto at the double's loopback address; the Management API's resource stays a Logto Cloud tenant's."""
    return load_settings(
        {
            "LOGTO_ENDPOINT": double.url,
            "M2M_SECRET_ID": "s",
            "LOGTO_MANAGEMENT_API_RESOURCE": "https://tenant.logto.app/api",
        }
    )


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def provider(double, clock=None, secrets=None):
    loads = []
    secrets = secrets or [M2MCredentials("app", "secret")]

    def load(force):
        loads.append(force)
        return secrets[min(len(loads) - 1, len(secrets) - 1)] if force else secrets[0]

    p = M2MTokenProvider(settings(double), HttpSender(sleep=lambda s: None), load, clock=clock or Clock())
    return p, loads


def token_response(token="t1", expires_in=3600, scope="all"):
    return {"access_token": token, "expires_in": expires_in, "token_type": "Bearer", "scope": scope}


def test_one_token_request_for_a_thousand_calls(double):
    double.post(TOKEN, json=token_response())
    p, _ = provider(double)
    assert {p.token(Deadline.after(5)) for _ in range(1000)} == {"t1"}
    assert len(double.calls) == 1
    request = double.calls[0]
    form = parse_qs(request.body.decode())
    assert form == {
        "grant_type": ["client_credentials"],
        "resource": ["https://tenant.logto.app/api"],
        "scope": ["all"],
    }
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"app:secret").decode()


def test_refreshed_shortly_before_expiry(double):
    double.post(TOKEN, json=token_response("t1"))
    double.post(TOKEN, json=token_response("t2"))
    clock = Clock()
    p, _ = provider(double, clock)
    assert p.token(Deadline.after(5)) == "t1"
    clock.now += 3600 - EXPIRY_SKEW_SECONDS - 1
    assert p.token(Deadline.after(5)) == "t1"
    clock.now += 2
    assert p.token(Deadline.after(5)) == "t2"


def test_short_lived_token_is_not_cached(double):
    double.post(TOKEN, json=token_response("a", expires_in=60))
    double.post(TOKEN, json=token_response("b", expires_in=60))
    p, _ = provider(double)
    assert [p.token(Deadline.after(5)), p.token(Deadline.after(5))] == ["a", "b"]


def test_rejected_secret_is_re_read_once(double):
    double.post(TOKEN, status=401, json={"error": "invalid_client", "code": "oidc.invalid_client"})
    double.post(TOKEN, json=token_response("fresh"))
    p, loads = provider(double, secrets=[M2MCredentials("app", "old"), M2MCredentials("app", "new")])
    assert p.token(Deadline.after(5)) == "fresh"
    assert loads == [False, True]
    assert base64.b64decode(double.calls[1].headers["Authorization"][6:]) == b"app:new"


def test_rejected_twice_is_a_clean_503_with_retry_after(double):
    double.post(TOKEN, status=401, json={"error": "invalid_client"})
    double.post(TOKEN, status=401, json={"error": "invalid_client"})
    p, _ = provider(double)
    with pytest.raises(ServiceUnavailable) as info:
        p.token(Deadline.after(5))
    assert info.value.code == "logto_auth_failed" and len(double.calls) == 2
    assert info.value.retry_after == settings(double).m2m_rejected_cooldown_seconds


def test_rejected_credentials_are_not_hammered(double):
    """Finding 5: 5 requests with a secret Logto keeps refusing made 5 forced secret reads and 10 token requests.
    Now: one forced re-read and two token requests per cooldown, then 503 + Retry-After without calling anyone."""
    double.post(TOKEN, status=401, json={"error": "invalid_client", "code": "oidc.invalid_client"})
    clock = Clock()
    p, loads = provider(double, clock)
    retry_afters = []
    for _ in range(5):
        with pytest.raises(ServiceUnavailable) as info:
            p.token(Deadline.after(5))
        retry_afters.append(info.value.retry_after)
        clock.now += 1
    assert loads.count(True) == 1 and len(double.calls) == 2
    assert retry_afters == [30, 29, 28, 27, 26]
    clock.now += 30  # cooldown over: one more round (a fixed secret is picked up), then quiet again
    with pytest.raises(ServiceUnavailable):
        p.token(Deadline.after(5))
    assert loads.count(True) == 2 and len(double.calls) == 4


def test_a_fixed_secret_is_used_after_the_cooldown(double):
    double.post(TOKEN, status=401, json={"error": "invalid_client"})
    double.post(TOKEN, status=401, json={"error": "invalid_client"})
    double.post(TOKEN, json=token_response("ok"))
    clock = Clock()
    p, _ = provider(double, clock, secrets=[M2MCredentials("app", "old"), M2MCredentials("app", "new")])
    with pytest.raises(ServiceUnavailable):
        p.token(Deadline.after(5))
    clock.now += 31
    assert p.token(Deadline.after(5)) == "ok"


def test_token_endpoint_5xx_is_retried(double):
    double.post(TOKEN, status=503)
    double.post(TOKEN, json=token_response())
    p, _ = provider(double)
    assert p.token(Deadline.after(5)) == "t1"


def test_scope_other_than_all_is_warned_about(log_lines, double):
    double.post(TOKEN, json=token_response(scope=""))
    p, _ = provider(double)
    p.token(Deadline.after(5))
    logs = log_lines()
    assert any(line.get("message") == "m2m_token_scope_not_all" for line in logs)
    assert "t1" not in str(logs)


def test_management_401_drops_the_token_and_retries_once(double):
    double.post(TOKEN, json=token_response("stale"))
    double.post(TOKEN, json=token_response("fresh"))
    double.get(API, status=401)
    double.get(API, json={"id": "o1"})
    p, _ = provider(double)
    api = ManagementApi(settings(double), HttpSender(sleep=lambda s: None), p)
    assert api.get_organization("o1", Deadline.after(5)) == {"id": "o1"}
    assert [c.headers["Authorization"] for c in double.calls if c.url == double.url + API] == [
        "Bearer stale",
        "Bearer fresh",
    ]


def test_management_401_twice_gives_up(double):
    double.post(TOKEN, json=token_response("a"))
    double.post(TOKEN, json=token_response("b"))
    double.get(API, status=401)
    double.get(API, status=401)
    p, _ = provider(double)
    api = ManagementApi(settings(double), HttpSender(sleep=lambda s: None), p)
    with pytest.raises(LogtoError) as info:
        api.get_organization("o1", Deadline.after(5))
    assert info.value.status == 401 and isinstance(api_error(info.value), UpstreamError)
    assert len([c for c in double.calls if c.url == double.url + API]) == 2


def test_concurrent_callers_share_one_token_request(double):
    def slow(request):
        time.sleep(0.05)
        return 200, {}, '{"access_token": "t", "expires_in": 3600, "scope": "all"}'

    double.post(TOKEN, callback=slow)
    p, _ = provider(double)
    threads = [threading.Thread(target=p.token, args=(Deadline.after(5),)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(double.calls) == 1


def test_credentials_never_show_in_repr():
    assert "secret-value" not in repr(M2MCredentials("app", "secret-value"))


def test_revoke_uses_the_status_route_and_falls_back_to_delete_without_it(double):
    double.post(TOKEN, json=token_response())
    base = "/api/organization-invitations/i1"
    double.put(
        f"{base}/status", json={"id": "i1", "organizationId": "o1", "invitee": "a@example.com", "status": "Revoked"}
    )
    p, _ = provider(double)
    api = ManagementApi(settings(double), HttpSender(sleep=lambda s: None), p)
    api.revoke_invitation("i1", Deadline.after(5))
    assert [c.method for c in double.calls[1:]] == ["PUT"]
    double.reset()
    double.put(f"{base}/status", status=405)
    double.delete(base, status=204)
    api.revoke_invitation("i1", Deadline.after(5))
    assert [c.method for c in double.calls] == ["PUT", "DELETE"]


def test_role_assignment_uses_the_bulk_route_and_falls_back_per_user(double):
    double.post(TOKEN, json=token_response())
    base = "/api/organizations/o1/users"
    double.post(f"{base}/roles", status=201)
    p, _ = provider(double)
    api = ManagementApi(settings(double), HttpSender(sleep=lambda s: None), p)
    api.assign_roles("o1", ["u1", "u2"], ["r1"], Deadline.after(5))
    assert [c.url for c in double.calls[1:]] == [f"{double.url}{base}/roles"]
    double.reset()
    double.post(f"{base}/roles", status=404)
    double.post(f"{base}/u1/roles", status=201)
    double.post(f"{base}/u2/roles", status=201)
    api.assign_roles("o1", ["u1", "u2"], ["r1"], Deadline.after(5))
    assert [c.url for c in double.calls] == [f"{double.url}{base}/{user}roles" for user in ("", "u1/", "u2/")]
    double.reset()
    double.post(f"{base}/roles", status=422, json={"code": "entity.relation_foreign_key_not_found"})
    with pytest.raises(LogtoError) as info:
        api.assign_roles("o1", ["ghost"], ["r1"], Deadline.after(5))
    assert api_error(info.value).code == "unknown_reference"
