"""Requests at the edges of HTTP get the answers API Gateway itself gives (its JSON gateway responses), never an answer
of the emulator's own web server (Flask's KeyError, werkzeug's 308 redirect, http.server's HTML errors).

Raw sockets throughout: an HTTP client library would normalise exactly what these tests send."""

from __future__ import annotations

import json
import socket
import time
import uuid
from dataclasses import dataclass
from email.message import Message
from http.client import HTTPResponse
from urllib.parse import urlsplit

import pytest

DEMO = "demo0org0001"
CORS = ("Access-Control-Allow-Origin", "Vary", "Access-Control-Expose-Headers")
NO_SUCH_ROUTE = {"message": "No such route", "code": "route_not_found"}


@dataclass
class Answer:
    status: int
    headers: Message
    body: bytes

    def json(self):
        assert self.headers["Content-Type"] == "application/json", (self.headers["Content-Type"], self.body[:200])
        return json.loads(self.body)


def send(stack, raw: bytes) -> Answer:
    """One request, byte for byte as given, on its own connection."""
    url = urlsplit(stack.url)
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(raw)
        response = HTTPResponse(sock, method=raw.split(b" ", 1)[0].decode("latin-1"))
        response.begin()
        return Answer(response.status, response.headers, response.read())


def exchange(stack, raw: bytes, half_close: bool = False) -> tuple[Answer, str]:
    """One request as `send` does (`half_close`: then the client stops sending, as one that went away midway), and
    what the server printed while answering it, up to the end of the connection."""
    url = urlsplit(stack.url)
    start = len(stack.output)
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        response = HTTPResponse(sock, method=raw.split(b" ", 1)[0].decode("latin-1"))
        response.begin()
        answer = Answer(response.status, response.headers, response.read())
        while sock.recv(4096):  # to the server's close: it has handled the request completely, errors included
            pass
    # A request after it (one no function answers), found in the output: all printed before is in stack.output now.
    marker = f"/no-such-route?after={uuid.uuid4().hex}"
    assert request(stack, "GET", marker).status == 404
    deadline = time.monotonic() + 10
    while not any(marker in line for line in stack.output[start:]):
        assert time.monotonic() < deadline, "the server's log line for a request never came"
        time.sleep(0.05)
    return answer, "".join(stack.output[start:])


def request(
    stack, method: str, path: str, headers: list[tuple[str, str]] = (), body: bytes | None = None, token=None
) -> Answer:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {urlsplit(stack.url).netloc}", "Connection: close"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    lines += [f"{name}: {value}" for name, value in headers]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return send(stack, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))


def invocations(stack) -> tuple[int, dict]:
    """Authorizer and function invocations so far (the clean-up timer's runs left out: they come on their own)."""
    stats = stack.gateway_stats()
    functions = {k: v for k, v in stats["functionInvocations"].items() if k != "RunCleanupsFunction"}
    return stats["authorizerInvocations"], functions


def gateway_cors(stack) -> dict[str, str]:
    """The CORS headers the template's gateway responses carry (the e2e stack allows the console's origin)."""
    reference = request(stack, "GET", "/no-such-route")
    assert reference.status == 404 and reference.json() == NO_SUCH_ROUTE
    headers = {name: reference.headers[name] for name in CORS if reference.headers[name] is not None}
    assert headers.get("Access-Control-Allow-Origin"), headers
    return headers


def assert_gateway_cors(stack, answer: Answer) -> None:
    assert {name: answer.headers[name] for name in CORS} == gateway_cors(stack)


# -- HEAD: API Gateway does not add HEAD to a GET method ---------------------------------------------------------------
# A method the resource does not define is API Gateway's MISSING_AUTHENTICATION_TOKEN response (the template makes it
# 404 route_not_found), answered before the authorizer. Flask adds HEAD to every GET route; SAM then failed with a
# KeyError (502).
@pytest.mark.parametrize("path, kind", [("/health", None), (f"/organizations/{DEMO}/members", "organization")])
def test_head_is_the_missing_route_gateway_response_before_any_function(stack, path, kind):
    token = stack.token(kind, "alice", DEMO) if kind else None
    reference = request(stack, "GET", "/no-such-route")
    before = invocations(stack)
    answer = request(stack, "HEAD", path, token=token)
    assert answer.status == 404
    assert answer.body == b""  # HEAD: headers only, those of the JSON gateway response
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.headers["Content-Length"] == reference.headers["Content-Length"] == str(len(reference.body))
    assert_gateway_cors(stack, answer)
    assert invocations(stack) == before


# -- `//`: API Gateway routes /a//b as /a/b (localstack/localstack#11253); werkzeug answered a 308 HTML redirect --------
@pytest.mark.parametrize(
    "path",
    [f"/organizations//{DEMO}/members", f"//organizations/{DEMO}//members", f"///organizations///{DEMO}///members"],
)
def test_repeated_slashes_route_like_one(stack, path):
    token = stack.token("organization", "alice", DEMO)
    expected = request(stack, "GET", f"/organizations/{DEMO}/members", token=token)
    assert expected.status == 200
    before = invocations(stack)[1].get("ListMembersFunction", 0)
    answer = request(stack, "GET", path, token=token)
    assert answer.status == 200, answer.body
    assert answer.json() == expected.json()
    assert invocations(stack)[1].get("ListMembersFunction", 0) == before + 1


def test_repeated_slashes_on_a_route_without_a_token_are_still_public_only_where_defined(stack):
    health = request(stack, "GET", "/health//")
    assert health.status == 200 and health.json() == {"status": "ok"}
    # Merging slashes never makes a route public: still the authorizer's 401 without a token.
    members = request(stack, "GET", f"//organizations//{DEMO}//members")
    assert members.status == 401 and members.json() == {"message": "Unauthorized", "code": "unauthorized"}


@pytest.mark.parametrize(
    "method, path, status, code",
    [
        # `..` (encoded, so no client resolves it) lands in a path parameter: the operation's plain-id check refuses it.
        ("DELETE", f"/organizations/{DEMO}//members/%2E%2E", 400, "invalid_id"),
        ("PUT", f"/organizations/{DEMO}//members//%2e%2e//roles", 400, "invalid_id"),
        # ... or, as the organization, the authorizer's policy does not cover it.
        ("DELETE", "/organizations//%2E%2E//members/bob", 403, "forbidden"),
        ("DELETE", f"/organizations/{DEMO}/members//%2E%2E//", 400, "invalid_id"),
    ],
)
def test_repeated_slashes_reach_nothing_a_single_slash_path_does_not(stack, method, path, status, code):
    token = stack.token("organization", "alice", DEMO)
    logto_before = stack.logto_stats()["routes"]
    body = b'{"organizationRoleNames": ["admin"]}' if method == "PUT" else None
    answer = request(stack, method, path, token=token, body=body)
    assert answer.status == status, answer.body
    assert answer.json()["code"] == code
    changed = {k: v for k, v in stack.logto_stats()["routes"].items() if v != logto_before.get(k)}
    assert not [route for route in changed if not route.startswith("GET")], changed  # nothing changed in Logto


# -- a body that is not UTF-8: API Gateway passes a text payload on as UTF-8 with U+FFFD for invalid bytes --------------
@pytest.mark.parametrize("body", ['{"name": "Caf\xe9 Co"}'.encode("latin-1"), b"\xff\xfe{\x00}"])
def test_a_body_that_is_not_utf8_reaches_the_function_which_refuses_it(stack, body):
    token = stack.token("global_api", "carol")
    logto_before = stack.logto_stats()["routes"]
    before = invocations(stack)[1].get("CreateOrganizationFunction", 0)
    answer = request(stack, "POST", "/organizations", token=token, body=body)
    assert answer.status == 400, answer.body
    error = answer.json()
    assert error["code"] == "invalid_json" and "UTF-8" in error["message"]
    assert invocations(stack)[1].get("CreateOrganizationFunction", 0) == before + 1  # the gateway passed it on
    assert stack.logto_stats()["routes"].get("POST /api/organizations") == logto_before.get("POST /api/organizations")


# -- headers: API Gateway limits their size (10240 bytes with the request line), not their number ----------------------
def test_many_small_headers_are_a_normal_request(stack):
    extra = [(f"X-Extra-{i}", str(i)) for i in range(150)]
    health = request(stack, "GET", "/health", headers=extra)
    assert health.status == 200 and health.json() == {"status": "ok"}
    token = stack.token("organization", "alice", DEMO)
    members = request(stack, "GET", f"/organizations/{DEMO}/members", headers=extra, token=token)
    assert members.status == 200 and isinstance(members.json(), list)


@pytest.mark.parametrize("size", [10_300, 70_000])
def test_headers_over_the_size_limit_are_a_json_431_before_any_function(stack, size):
    assert request(stack, "GET", "/health", headers=[("X-Big", "a" * 9_000)]).status == 200  # under the limit
    before = invocations(stack)
    answer = request(stack, "GET", "/health", headers=[("X-Big", "a" * size)])
    assert answer.status == 431
    assert answer.json() == {"message": "Request Header Fields Too Large", "code": "DEFAULT_4XX"}
    assert_gateway_cors(stack, answer)
    assert invocations(stack) == before


# -- a request http.server cannot parse: JSON (the DEFAULT_4XX/5XX shape), not its HTML error page ---------------------
@pytest.mark.parametrize(
    "raw, status, body",
    [
        (b"GARBAGE\r\n\r\n", 400, {"message": "Bad Request", "code": "DEFAULT_4XX"}),
        (b"GET /health HTTP/x.y\r\n\r\n", 400, {"message": "Bad Request", "code": "DEFAULT_4XX"}),
        (b"GET /health HTTP/1.1 extra\r\n\r\n", 400, {"message": "Bad Request", "code": "DEFAULT_4XX"}),
        # Over API Gateway's 10240 bytes for the request line alone (http.server's own limit is 64 KiB).
        (b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n", 414, {"message": "URI Too Long", "code": "DEFAULT_4XX"}),
        (b"GET /health HTTP/2.0\r\n\r\n", 505, {"message": "Internal server error", "code": "internal_error"}),
        # No HTTP version (HTTP/0.9): http.server answered a bare body, no status line; API Gateway takes HTTP/1.x.
        (b"GET /health\r\n\r\n", 400, {"message": "Bad Request", "code": "DEFAULT_4XX"}),
        (b"GET  HTTP/1.1\r\n\r\n", 400, {"message": "Bad Request", "code": "DEFAULT_4XX"}),  # empty target
        (b"GET /health HTTP/0.9\r\n\r\n", 400, {"message": "Bad Request", "code": "DEFAULT_4XX"}),
    ],
)
def test_unparseable_requests_are_json_errors(stack, raw, status, body):
    before = invocations(stack)
    answer = send(stack, raw)
    assert answer.status == status
    assert answer.json() == body
    assert_gateway_cors(stack, answer)
    assert invocations(stack) == before


# -- a body that cannot be read: API Gateway's 400, before the authorizer; werkzeug raised into SAM (502, traceback) ----
def patch_head(stack, token: str, framing: str) -> bytes:
    lines = [
        f"PATCH /organizations/{DEMO} HTTP/1.1",
        f"Host: {urlsplit(stack.url).netloc}",
        "Connection: close",
        "Content-Type: application/json",
        f"Authorization: Bearer {token}",
        framing,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@pytest.mark.parametrize(
    "framing, body, half_close",
    [
        ("Transfer-Encoding: chunked", b"zz\r\n{}\r\n0\r\n\r\n", False),  # a chunk size that is not hex
        ("Transfer-Encoding: chunked", b"2\r\n{}XX0\r\n\r\n", False),  # a chunk without its CRLF
        ("Transfer-Encoding: chunked", b'10\r\n{"na', True),  # the client gone within a chunk
        ("Transfer-Encoding: chunked", b"2\r\n{}\r\n", True),  # ... before the last chunk
        ("Content-Length: 100", b'{"name":', True),  # ... before its Content-Length
    ],
    ids=["chunk-size-not-hex", "chunk-without-crlf", "chunk-cut-short", "no-last-chunk", "shorter-than-length"],
)
def test_a_body_that_cannot_be_read_is_a_json_400_before_any_function(stack, framing, body, half_close):
    token = stack.token("organization", "alice", DEMO)
    before = invocations(stack)
    answer, printed = exchange(stack, patch_head(stack, token, framing) + body, half_close=half_close)
    assert answer.status == 400, answer.body
    assert answer.json() == {"message": "Bad Request", "code": "DEFAULT_4XX"}
    assert_gateway_cors(stack, answer)
    assert invocations(stack) == before  # neither the authorizer nor the function
    assert "Traceback" not in printed and "ERROR in app" not in printed, printed


def test_a_chunked_body_reaches_the_function_whole(stack):
    # The guard on the fix above: the body is read before routing, and still reaches the function as it was sent.
    token = stack.token("organization", "alice", DEMO)
    before = invocations(stack)[1].get("UpdateOrganizationFunction", 0)
    answer, printed = exchange(
        stack, patch_head(stack, token, "Transfer-Encoding: chunked") + b"1\r\n{\r\n1\r\n}\r\n0\r\n\r\n"
    )
    assert answer.status == 400, answer.body  # `{}` parsed by the function: no field to change
    assert answer.json()["code"] == "invalid_request" and "at least one of" in answer.json()["message"]
    assert invocations(stack)[1].get("UpdateOrganizationFunction", 0) == before + 1
    assert "Traceback" not in printed, printed
