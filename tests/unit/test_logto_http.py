"""Retries, timeouts, Retry-After and error mapping of the Logto HTTP layer."""

from __future__ import annotations

import email.utils
import time

import pytest

from orgapi.base.deadline import Deadline
from orgapi.base.errors import (
    BadRequest,
    Conflict,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    Unprocessable,
    UpstreamError,
    UpstreamTimeout,
)
from orgapi.logto.http import HttpSender, LogtoError, LogtoResponse, NoAnswer, RetryPolicy, parse_retry_after
from orgapi.logto.upstream import api_error
from tests.support.http_stub import StubServer

PATH = "/api/organizations/o1"


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def sender(sleeps):
    return HttpSender(sleep=sleeps.append, rand=lambda: 0.5)


@pytest.fixture
def url(double):
    return f"{double.url}{PATH}"


def test_get_retries_5xx_then_succeeds(sender, sleeps, double, url):
    double.get(PATH, status=503)
    double.get(PATH, status=502)
    double.get(PATH, json={"id": "o1"})
    result = sender.send("GET", url, deadline=Deadline.after(10))
    assert result.status == 200 and result.body == {"id": "o1"}
    assert len(double.calls) == 3
    assert sleeps == [0.05, 0.1]  # full jitter with rand=0.5: 0.5*0.1, 0.5*0.2


def test_attempts_are_bounded(sender, double, url):
    for _ in range(5):
        double.get(PATH, status=500)
    assert sender.send("GET", url, deadline=Deadline.after(10)).status == 500
    assert len(double.calls) == RetryPolicy().max_attempts


def test_retry_after_is_honoured(sender, sleeps, double, url):
    double.get(PATH, status=429, headers={"Retry-After": "1"})
    double.get(PATH, json={})
    assert sender.send("GET", url, deadline=Deadline.after(10)).status == 200
    assert sleeps == [1.0]


def test_header_names_are_case_insensitive(sender, sleeps, double, url):
    double.get(PATH, status=429, headers={"retry-after": "2"})
    double.get(PATH, json=[], headers={"total-number": "7"})
    result = sender.send("GET", url, deadline=Deadline.after(10))
    assert sleeps == [2.0] and result.headers.get("Total-Number") == "7"


def test_retry_after_beyond_the_budget_gives_up_at_once(sender, sleeps, double, url):
    double.get(PATH, status=429, headers={"Retry-After": "3600"})
    result = sender.send("GET", url, deadline=Deadline.after(10))
    assert result.status == 429 and sleeps == [] and len(double.calls) == 1
    error = api_error(LogtoError.of(result))
    assert isinstance(error, RateLimited) and error.retry_after == 3600


def test_post_is_not_retried_on_5xx_but_is_on_429(sender, double, url):
    double.post(PATH, status=503)
    assert sender.send("POST", url, deadline=Deadline.after(10)).status == 503
    assert len(double.calls) == 1
    double.reset()
    double.post(PATH, status=429)
    double.post(PATH, status=201, json={})
    assert sender.send("POST", url, deadline=Deadline.after(10)).status == 201


def test_connection_refused_is_retried_even_for_post_then_503(sleeps):
    sender = HttpSender(sleep=sleeps.append, rand=lambda: 0.5)
    with pytest.raises(NoAnswer) as info:
        sender.send("POST", "http://127.0.0.1:1/api/x", deadline=Deadline.after(10))
    assert info.value.reason == "unreachable" and not info.value.maybe_applied and len(sleeps) == 2
    error = api_error(info.value)
    assert isinstance(error, ServiceUnavailable) and error.retry_after


def test_slow_server_is_cut_at_the_deadline():
    server = StubServer({"/slow": lambda: (200, {}, 3.0)})
    try:
        sender = HttpSender(sleep=lambda s: None)
        started = time.monotonic()
        with pytest.raises(NoAnswer) as info:
            sender.send("GET", f"{server.url}/slow", deadline=Deadline.after(0.6))
        assert time.monotonic() - started < 1.5
        assert info.value.maybe_applied and isinstance(api_error(info.value), UpstreamTimeout)
    finally:
        server.close()


def test_read_timeout_on_post_is_not_retried():
    server = StubServer({})
    server.routes["/slow"] = lambda: (200, {}, 2.0)
    calls = []
    try:
        sender = HttpSender(sleep=calls.append)
        with pytest.raises(NoAnswer) as info:
            sender.send("POST", f"{server.url}/slow", deadline=Deadline.after(0.5))
        assert calls == [] and info.value.reason == "timeout" and info.value.maybe_applied
    finally:
        server.close()


def test_redirects_are_not_followed(sender, double, url):
    double.get(PATH, status=302, headers={"Location": "https://evil.example/"})
    result = sender.send("GET", url, deadline=Deadline.after(5))
    assert result.status == 302 and len(double.calls) == 1
    assert isinstance(api_error(LogtoError.of(result)), UpstreamError)


def test_oversized_response_is_refused(sender, double, url):
    double.get(PATH, body=b"x" * (5 * 1024 * 1024 + 10))
    with pytest.raises(NoAnswer) as info:
        sender.send("GET", url, deadline=Deadline.after(5))
    assert info.value.reason == "oversized" and isinstance(api_error(info.value), UpstreamError)


def test_exhausted_deadline_makes_no_call(sender, double, url):
    with pytest.raises(NoAnswer) as info:
        sender.send("GET", url, deadline=Deadline.after(0))
    assert info.value.reason == "no_time" and not info.value.maybe_applied and double.calls == []


@pytest.mark.parametrize(
    "status,code,expected,our_code",
    [
        (400, "guard.invalid_input", BadRequest, "invalid_request"),
        (403, "subscription.limit_exceeded", Unprocessable, "limit_exceeded"),
        (403, "auth.forbidden", UpstreamError, "logto_auth_failed"),
        (401, "auth.unauthorized", UpstreamError, "logto_auth_failed"),
        (404, "entity.not_exists_with_id", NotFound, "not_found"),
        (422, "entity.unique_integrity_violation", Conflict, "already_exists"),
        (422, "entity.relation_foreign_key_not_found", Unprocessable, "unknown_reference"),
        (422, "organization.require_membership", NotFound, "member_not_found"),
        (422, "organization.role_names_not_found", Unprocessable, "unknown_role"),
        (422, "request.invalid_input", Unprocessable, "rejected"),
        (429, "", RateLimited, "rate_limited"),
        (500, "", UpstreamError, "logto_error"),
        (501, "connector.not_found", UpstreamError, "logto_error"),
        (503, "", ServiceUnavailable, "logto_unavailable"),
        (504, "", UpstreamTimeout, "logto_timeout"),
    ],
)
def test_error_mapping_never_passes_logto_text_on(status, code, expected, our_code):
    secret_text = "internal detail: tenant db host 10.0.0.5"
    error = api_error(
        LogtoError.of(LogtoResponse(status, {}, {"code": code, "message": secret_text, "details": secret_text}))
    )
    assert isinstance(error, expected) and error.code == our_code
    assert secret_text not in error.message


def test_retry_after_parsing():
    assert parse_retry_after("7") == 7
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert 0 <= parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert parse_retry_after(email.utils.formatdate(time.time() + 30, usegmt=True)) > 25


def test_a_dripping_body_is_cut_at_the_deadline():
    """Finding 6: headers arrive at once, then one byte per 0.1 s: the body read must not outlive the budget."""
    server = StubServer({})
    server.drips["/drip"] = (40, 0.1)  # 4 s of body
    try:
        sender = HttpSender(sleep=lambda s: None)
        started = time.monotonic()
        with pytest.raises(NoAnswer) as info:
            sender.send("GET", f"{server.url}/drip", deadline=Deadline.after(0.8))
        assert time.monotonic() - started < 1.3
        assert info.value.reason == "slow_body" and isinstance(api_error(info.value), UpstreamTimeout)
    finally:
        server.close()


def test_unicode_digit_retry_after_is_ignored_not_a_crash(sender, sleeps, double, url):
    """Finding 8: "²".isdigit() is True but float("²") raises: that was a 500."""
    assert parse_retry_after("²") is None and parse_retry_after("٣") is None
    double.get(PATH, status=429, headers={"Retry-After": "²"})
    double.get(PATH, json={"id": "o1"})
    assert sender.send("GET", url, deadline=Deadline.after(10)).status == 200
    assert sleeps == [0.05]  # own backoff instead of the unusable header


def test_retry_after_a_lost_answer_is_flagged(sender, double, url):
    double.delete(PATH, status=500)
    double.delete(PATH, status=404, json={"code": "entity.not_found"})
    result = sender.send("DELETE", url, deadline=Deadline.after(10))
    assert result.status == 404 and result.after_lost_answer
    double.reset()
    double.delete(PATH, status=404, json={"code": "entity.not_found"})
    assert not sender.send("DELETE", url, deadline=Deadline.after(10)).after_lost_answer


def test_logto_error_keeps_status_and_code_only():
    error = LogtoError.of(LogtoResponse(422, {"Retry-After": "3"}, {"code": "x.y", "message": "secret detail"}))
    assert (error.status, error.code, error.retry_after) == (422, "x.y", 3.0)
    assert "secret detail" not in str(error) and not error.maybe_applied
    assert LogtoError(500, "").maybe_applied and LogtoError(404, "", after_lost_answer=True).maybe_applied


def test_a_post_whose_connection_is_reset_after_sending_is_not_repeated(sender, sleeps, double, url):
    double.post(PATH, drop=True)  # received, then the connection reset: it may have been carried out
    with pytest.raises(NoAnswer) as info:
        sender.send("POST", url, deadline=Deadline.after(10))
    assert info.value.reason == "connection_lost" and info.value.maybe_applied
    assert len(double.calls) == 1 and sleeps == []


def test_a_get_whose_connection_is_reset_is_retried_and_flagged(sender, double, url):
    double.get(PATH, drop=True)
    double.get(PATH, json={"id": "o1"})
    result = sender.send("GET", url, deadline=Deadline.after(10))
    assert result.body == {"id": "o1"} and result.after_lost_answer and len(double.calls) == 2
