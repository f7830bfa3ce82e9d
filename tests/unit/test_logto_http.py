"""Retries, timeouts, Retry-After and error mapping of the Logto HTTP layer."""

from __future__ import annotations

import email.utils
import time

import pytest
import responses

from orgapi.deadline import Deadline
from orgapi.errors import (
    BadRequest,
    Conflict,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    Unprocessable,
    UpstreamError,
    UpstreamTimeout,
)
from orgapi.logto_http import HttpSender, LogtoResponse, RetryPolicy, error_for, parse_retry_after
from tests.support.http_stub import StubServer

URL = "https://tenant.logto.app/api/organizations/o1"


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def sender(sleeps):
    return HttpSender(sleep=sleeps.append, rand=lambda: 0.5)


@responses.activate
def test_get_retries_5xx_then_succeeds(sender, sleeps):
    responses.get(URL, status=503)
    responses.get(URL, status=502)
    responses.get(URL, json={"id": "o1"})
    result = sender.send("GET", URL, deadline=Deadline.after(10))
    assert result.status == 200 and result.body == {"id": "o1"}
    assert len(responses.calls) == 3
    assert sleeps == [0.05, 0.1]  # full jitter with rand=0.5: 0.5*0.1, 0.5*0.2


@responses.activate
def test_attempts_are_bounded(sender):
    for _ in range(5):
        responses.get(URL, status=500)
    assert sender.send("GET", URL, deadline=Deadline.after(10)).status == 500
    assert len(responses.calls) == RetryPolicy().max_attempts


@responses.activate
def test_retry_after_is_honoured(sender, sleeps):
    responses.get(URL, status=429, headers={"Retry-After": "1"})
    responses.get(URL, json={})
    assert sender.send("GET", URL, deadline=Deadline.after(10)).status == 200
    assert sleeps == [1.0]


@responses.activate
def test_header_names_are_case_insensitive(sender, sleeps):
    responses.get(URL, status=429, headers={"retry-after": "2"})
    responses.get(URL, json=[], headers={"total-number": "7"})
    result = sender.send("GET", URL, deadline=Deadline.after(10))
    assert sleeps == [2.0] and result.headers.get("Total-Number") == "7"


@responses.activate
def test_retry_after_beyond_the_budget_gives_up_at_once(sender, sleeps):
    responses.get(URL, status=429, headers={"Retry-After": "3600"})
    result = sender.send("GET", URL, deadline=Deadline.after(10))
    assert result.status == 429 and sleeps == [] and len(responses.calls) == 1
    error = error_for(result)
    assert isinstance(error, RateLimited) and error.retry_after == 3600


@responses.activate
def test_post_is_not_retried_on_5xx_but_is_on_429(sender):
    responses.post(URL, status=503)
    assert sender.send("POST", URL, deadline=Deadline.after(10)).status == 503
    assert len(responses.calls) == 1
    responses.reset()
    responses.post(URL, status=429)
    responses.post(URL, status=201, json={})
    assert sender.send("POST", URL, deadline=Deadline.after(10)).status == 201


def test_connection_refused_is_retried_even_for_post_then_503(sleeps):
    sender = HttpSender(sleep=sleeps.append, rand=lambda: 0.5)
    with pytest.raises(ServiceUnavailable) as info:
        sender.send("POST", "http://127.0.0.1:1/api/x", deadline=Deadline.after(10))
    assert info.value.retry_after and len(sleeps) == 2


def test_slow_server_is_cut_at_the_deadline():
    server = StubServer({"/slow": lambda: (200, {}, 3.0)})
    try:
        sender = HttpSender(sleep=lambda s: None)
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout):
            sender.send("GET", f"{server.url}/slow", deadline=Deadline.after(0.6))
        assert time.monotonic() - started < 1.5
    finally:
        server.close()


def test_read_timeout_on_post_is_not_retried():
    server = StubServer({})
    server.routes["/slow"] = lambda: (200, {}, 2.0)
    calls = []
    try:
        sender = HttpSender(sleep=calls.append)
        with pytest.raises((UpstreamTimeout, UpstreamError)):
            sender.send("POST", f"{server.url}/slow", deadline=Deadline.after(0.5))
        assert calls == []
    finally:
        server.close()


@responses.activate
def test_redirects_are_not_followed(sender):
    responses.get(URL, status=302, headers={"Location": "https://evil.example/"})
    result = sender.send("GET", URL, deadline=Deadline.after(5))
    assert result.status == 302 and len(responses.calls) == 1
    assert isinstance(error_for(result), UpstreamError)


@responses.activate
def test_oversized_response_is_refused(sender):
    responses.get(URL, body=b"x" * (5 * 1024 * 1024 + 10))
    with pytest.raises(UpstreamError):
        sender.send("GET", URL, deadline=Deadline.after(5))


def test_exhausted_deadline_makes_no_call(sender):
    with pytest.raises(UpstreamTimeout):
        sender.send("GET", URL, deadline=Deadline.after(0))


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
    error = error_for(LogtoResponse(status, {}, {"code": code, "message": secret_text, "details": secret_text}))
    assert isinstance(error, expected) and error.code == our_code
    assert secret_text not in error.message


def test_retry_after_parsing():
    assert parse_retry_after("7") == 7
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert 0 <= parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert parse_retry_after(email.utils.formatdate(time.time() + 30, usegmt=True)) > 25
