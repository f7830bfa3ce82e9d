"""A Logto double for unit tests of the HTTP client: a real loopback server (`StubServer`) answering what a test
registered, so requests go through urllib3's real transport, sockets and all.

    double.post("/oidc/token", json={...})                 # an answer: status, JSON or raw bytes, headers
    double.get("/api/organizations/o1", status=503)
    double.delete(path, drop=True)                         # the request is read, then the connection is reset
    double.get(path, delay=2.0)                            # the answer comes after 2 s
    double.add("PUT", path, callback=lambda req: (200, {"Retry-After": "1"}, b"{}"))
    double.calls                                           # every request: method, path, query, headers, body

Answers registered for the same method and path are given in order, the last one for every request after that (as
`responses` does). The path is matched without the query. A request nothing was registered for is recorded in
`unmatched` and its connection reset; the `double` fixture fails the test when there was one. A refused connection
(nothing reaches Logto) is `refused_url()`: a loopback port nobody listens on."""

from __future__ import annotations

import json as jsonlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.http_stub import StubRequest, StubServer

_NO_JSON = object()

Callback = Callable[[StubRequest], tuple[int, dict[str, str], bytes | str]]


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0  # seconds before the answer (or the drop)
    drop: bool = False  # reset the connection instead of answering
    callback: Callback | None = None


class LogtoDouble(StubServer):
    def __init__(self):
        super().__init__()
        self._answers: dict[tuple[str, str], list[Answer]] = {}
        self._lock = threading.Lock()
        self.unmatched: list[StubRequest] = []

    @property
    def calls(self) -> list[StubRequest]:
        """The requests that reached the double, in the order they arrived."""
        return self.requests

    def add(
        self,
        method: str,
        path: str,
        *,
        status: int = 200,
        json: Any = _NO_JSON,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
        delay: float = 0.0,
        drop: bool = False,
        callback: Callback | None = None,
    ) -> None:
        """Register the next answer to `method path`. `json` is sent JSON-encoded (Content-Type application/json);
        `body` as it is (str as UTF-8), under `content_type` if given. Neither: an empty body."""
        assert path.startswith("/") and "?" not in path, path
        all_headers = dict(headers or {})
        data = body.encode() if isinstance(body, str) else (body or b"")
        if json is not _NO_JSON:
            data = jsonlib.dumps(json).encode()
            all_headers.setdefault("Content-Type", content_type or "application/json")
        elif content_type:
            all_headers.setdefault("Content-Type", content_type)
        answer = Answer(status, data, tuple(all_headers.items()), delay, drop, callback)
        with self._lock:
            self._answers.setdefault((method.upper(), path), []).append(answer)

    def get(self, path: str, **kwargs: Any) -> None:
        self.add("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> None:
        self.add("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> None:
        self.add("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> None:
        self.add("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> None:
        self.add("DELETE", path, **kwargs)

    def reset(self) -> None:
        """Forget every registered answer and every recorded call (not the unmatched ones: the fixture reports them)."""
        with self._lock:
            self._answers.clear()
            self.requests.clear()

    def answer(self, handler: BaseHTTPRequestHandler, request: StubRequest) -> None:
        with self._lock:
            queue = self._answers.get((request.method, request.path))
            answer = (queue.pop(0) if len(queue) > 1 else queue[0]) if queue else None
        if answer is None:
            self.unmatched.append(request)
            self.drop(handler)
            return
        if answer.delay:
            time.sleep(answer.delay)
        if answer.drop:
            self.drop(handler)
            return
        status, headers, data = answer.status, dict(answer.headers), answer.body
        if answer.callback is not None:
            status, headers, body = answer.callback(request)
            data = body.encode() if isinstance(body, str) else body
        self.reply(handler, status, data, headers)


def refused_url() -> str:
    """A loopback URL nobody listens on: connecting is refused, nothing is sent."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
