"""Logto faults injected into the stand-in: the contract's answers, and the server keeps serving."""

from __future__ import annotations

import time

DEMO = "demo0org0001"


def test_429_with_retry_after_is_retried(stack):
    token = stack.token("organization", "alice", DEMO)
    stack.fault(pathPrefix=f"/api/organizations/{DEMO}", method="GET", status=429, retryAfter=1, times=1)
    started = time.monotonic()
    response = stack.call("GET", f"/organizations/{DEMO}", token)
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.9


def test_long_retry_after_gives_429_with_retry_after(stack):
    token = stack.token("organization", "alice", DEMO)
    stack.fault(pathPrefix=f"/api/organizations/{DEMO}", method="GET", status=429, retryAfter=120, times=5)
    started = time.monotonic()
    response = stack.call("GET", f"/organizations/{DEMO}", token)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "120"
    assert response.json()["code"] == "rate_limited"
    assert time.monotonic() - started < 5  # no sleeping past the function's budget


def test_persistent_500_gives_502_without_logto_body(stack):
    token = stack.token("organization", "alice", DEMO)
    stack.fault(pathPrefix=f"/api/organizations/{DEMO}", method="GET", status=500, times=10)
    response = stack.call("GET", f"/organizations/{DEMO}", token)
    assert response.status_code == 502
    assert "fault" not in response.text and response.json()["code"] == "logto_error"


def test_503_gives_503_with_retry_after(stack):
    token = stack.token("organization", "alice", DEMO)
    stack.fault(pathPrefix=f"/api/organizations/{DEMO}", method="GET", status=503, times=10)
    response = stack.call("GET", f"/organizations/{DEMO}", token)
    assert response.status_code == 503 and response.headers.get("Retry-After")


def test_slow_logto_gives_504_and_the_server_keeps_serving(stack):
    token = stack.token("organization", "alice", DEMO)
    stack.fault(pathPrefix=f"/api/organizations/{DEMO}/users", method="GET", delayMs=11000, times=2)
    started = time.monotonic()
    response = stack.call("GET", f"/organizations/{DEMO}/members", token)
    assert response.status_code == 504, response.text
    assert time.monotonic() - started < 11
    stack.clear_faults()
    assert stack.call("GET", "/health").status_code == 200
    assert stack.call("GET", f"/organizations/{DEMO}", token).status_code == 200


def test_m2m_token_is_requested_once_per_worker(stack):
    token = stack.token("organization", "alice", DEMO)
    for _ in range(20):
        assert stack.call("GET", f"/organizations/{DEMO}", token).status_code == 200
    stats, gateway = stack.logto_stats(), stack.gateway_stats()
    operation_workers = sum(
        n for name, n in gateway["workersStarted"].items() if name not in ("AuthorizerFunction", "HealthFunction")
    )
    tests_own = 1 if stack.management_token else 0  # Stack.management's token for set-up calls
    assert stats["token_requests"] - tests_own <= operation_workers
