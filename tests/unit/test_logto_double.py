"""The Logto double (tests/support/logto_double.py) answers over a real socket what a test registered, records what
was sent, and fails the way a network does."""

from __future__ import annotations

import time

import pytest
import urllib3

from orgapi.base.deadline import Deadline
from orgapi.logto.http import HttpSender, NoAnswer
from tests.support.logto_double import LogtoDouble, refused_url


def test_answers_in_order_then_the_last_one_again(double):
    double.get("/a", status=503)
    double.get("/a", json={"n": 2}, headers={"X-Thing": "y"})
    http = urllib3.PoolManager(retries=False)
    assert http.request("GET", f"{double.url}/a").status == 503
    for _ in range(2):
        answer = http.request("GET", f"{double.url}/a")
        assert answer.json() == {"n": 2} and answer.headers["x-thing"] == "y"
        assert answer.headers["Content-Type"] == "application/json"


def test_records_method_path_query_headers_and_body(double):
    double.post("/p", status=201)
    HttpSender().send(
        "POST",
        f"{double.url}/p",
        deadline=Deadline.after(5),
        params={"a": "1", "b": None},
        json={"x": 1},
        headers={"Authorization": "Bearer t"},
    )
    [call] = double.calls
    assert (call.method, call.path, call.query, call.url) == ("POST", "/p", {"a": ["1"]}, f"{double.url}/p?a=1")
    assert call.headers["authorization"] == "Bearer t" and call.json() == {"x": 1}


def test_an_unregistered_request_is_reported_and_reset():
    double = LogtoDouble()
    try:
        with pytest.raises(NoAnswer) as lost:
            HttpSender(sleep=lambda s: None).send("POST", f"{double.url}/nothing", deadline=Deadline.after(5))
        assert lost.value.reason == "connection_lost"
        double.reset()
        assert [r.path for r in double.unmatched] == ["/nothing"]
    finally:
        double.close()


def test_a_delayed_answer_times_out_a_short_deadline(double):
    double.get("/slow", delay=1.0, json={})
    started = time.monotonic()
    with pytest.raises(NoAnswer) as lost:
        HttpSender(sleep=lambda s: None).send("GET", f"{double.url}/slow", deadline=Deadline.after(0.4))
    assert time.monotonic() - started < 0.9 and lost.value.maybe_applied


def test_a_refused_connection_sends_nothing():
    with pytest.raises(NoAnswer) as lost:
        HttpSender(sleep=lambda s: None).send("POST", refused_url(), deadline=Deadline.after(5))
    assert lost.value.reason == "unreachable" and not lost.value.maybe_applied
