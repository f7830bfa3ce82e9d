"""A tiny loopback HTTP server for tests that need a real socket (JWKS fetch, timeouts, the Logto double)."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local.logto.compression import ENCODERS, THRESHOLD, NotAcceptable, negotiate


@dataclass
class StubRequest:
    """One request as the server read it off the socket."""

    method: str
    url: str  # the server's base URL + the request target (path and query)
    path: str  # without the query
    query: dict[str, list[str]]
    headers: Message  # case-insensitive: headers["authorization"] is headers["Authorization"]
    body: bytes
    arrived: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode(), keep_blank_values=True)


class StubServer:
    """Serves `routes[path] -> (status, body_dict, delay_seconds)` (GET and POST); counts requests per path.

    `drips[path] = (byte_count, seconds_between_bytes)` sends headers at once, then the body one byte at a time.

    `compress` (default None: bodies as they are) makes the stub answer compressed, as Logto does:
      "logto": koa-compress's negotiation (local/logto/compression.py): the request's Accept-Encoding, 1 KB threshold;
      "gzip" / "deflate": every body in that encoding, whatever the request accepts.
    A route's body may be `bytes` (not JSON-encoded): with "gzip"/"deflate" they are sent as they are, under that
    Content-Encoding (pre-made compressed bytes: a decompression bomb, a cut-short stream, garbage); otherwise they
    are the plain body.

    Every request of any method is kept in `requests` (a `StubRequest`, body read in full) before it is answered.
    A subclass answers differently by overriding `answer(handler, request)`; `reply` and `drop` are its tools."""

    def __init__(
        self, routes: dict[str, Callable[[], tuple[int, Any, float]]] | None = None, *, compress: str | None = None
    ):
        assert compress in (None, "logto", "gzip", "deflate"), compress
        self.routes, self.hits, self.compress = routes if routes is not None else {}, {}, compress
        self.drips: dict[str, tuple[int, float]] = {}
        self.requests: list[StubRequest] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def handle_one(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                target = urlsplit(self.path)
                request = StubRequest(
                    self.command, stub.url + self.path, target.path, parse_qs(target.query), self.headers, body
                )
                stub.requests.append(request)
                stub.answer(self, request)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def answer(self, handler: BaseHTTPRequestHandler, request: StubRequest) -> None:
        path = handler.path
        if request.method not in ("GET", "POST"):
            handler.send_error(501)
            return
        self.hits[path] = self.hits.get(path, 0) + 1
        if path in self.drips:
            count, pause = self.drips[path]
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(count))
            handler.end_headers()
            try:
                for _ in range(count):
                    handler.wfile.write(b" ")
                    handler.wfile.flush()
                    time.sleep(pause)
            except OSError:
                pass  # the client gave up
            return
        route = self.routes.get(path)
        status, body, delay = route() if route else (404, {"code": "not_found"}, 0)
        time.sleep(delay)
        raw = isinstance(body, bytes)
        data = body if raw else json.dumps(body).encode()
        encoding = self.compress
        if encoding == "logto":
            try:
                encoding = negotiate(handler.headers.get("Accept-Encoding")) if len(data) >= THRESHOLD else None
            except NotAcceptable:
                encoding = None  # koa-compress's 406 is swallowed by Logto's error handler: served as is
        if encoding == "identity":
            encoding = None
        if encoding and not (raw and self.compress != "logto"):  # fixed encoding: bytes are pre-made
            data = ENCODERS[encoding](data)
        headers = {"Content-Type": "application/json"}
        if encoding:
            headers["Content-Encoding"] = encoding
        if self.compress == "logto":
            headers["Vary"] = "Accept-Encoding"
        self.reply(handler, status, data, headers)

    @staticmethod
    def reply(handler: BaseHTTPRequestHandler, status: int, data: bytes, headers: dict[str, str]) -> None:
        """Status, headers as given (names keep their case), Content-Length, then the body. A client that gave up
        already (a timeout, an oversized body) is no error here."""
        with contextlib.suppress(OSError):
            handler.send_response(status)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)

    @staticmethod
    def drop(handler: BaseHTTPRequestHandler) -> None:
        """Reset the connection without a byte of answer: the request was received, its answer is lost."""
        handler.close_connection = True
        with contextlib.suppress(OSError):
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.connection.close()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
