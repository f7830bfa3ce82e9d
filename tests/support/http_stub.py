"""A tiny loopback HTTP server for tests that need a real socket (JWKS fetch, timeouts)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local.logto.compression import ENCODERS, THRESHOLD, NotAcceptable, negotiate


class StubServer:
    """Serves `routes[path] -> (status, body_dict, delay_seconds)`; counts requests per path.

    `drips[path] = (byte_count, seconds_between_bytes)` sends headers at once, then the body one byte at a time.

    `compress` (default None: bodies as they are) makes the stub answer compressed, as Logto does:
      "logto": koa-compress's negotiation (local/logto/compression.py): the request's Accept-Encoding, 1 KB threshold;
      "gzip" / "deflate": every body in that encoding, whatever the request accepts.
    A route's body may be `bytes` (not JSON-encoded): with "gzip"/"deflate" they are sent as they are, under that
    Content-Encoding (pre-made compressed bytes: a decompression bomb, a cut-short stream, garbage); otherwise they
    are the plain body."""

    def __init__(self, routes: dict[str, Callable[[], tuple[int, Any, float]]], *, compress: str | None = None):
        assert compress in (None, "logto", "gzip", "deflate"), compress
        self.routes, self.hits, self.compress = routes, {}, compress
        self.drips: dict[str, tuple[int, float]] = {}
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                stub.hits[self.path] = stub.hits.get(self.path, 0) + 1
                if self.path in stub.drips:
                    count, pause = stub.drips[self.path]
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(count))
                    self.end_headers()
                    try:
                        for _ in range(count):
                            self.wfile.write(b" ")
                            self.wfile.flush()
                            time.sleep(pause)
                    except OSError:
                        pass  # the client gave up
                    return
                route = stub.routes.get(self.path)
                status, body, delay = route() if route else (404, {"code": "not_found"}, 0)
                time.sleep(delay)
                raw = isinstance(body, bytes)
                data = body if raw else json.dumps(body).encode()
                encoding = stub.compress
                if encoding == "logto":
                    try:
                        encoding = negotiate(self.headers.get("Accept-Encoding")) if len(data) >= THRESHOLD else None
                    except NotAcceptable:
                        encoding = None  # koa-compress's 406 is swallowed by Logto's error handler: served as is
                if encoding == "identity":
                    encoding = None
                if encoding and not (raw and stub.compress != "logto"):  # fixed encoding: bytes are pre-made
                    data = ENCODERS[encoding](data)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if encoding:
                    self.send_header("Content-Encoding", encoding)
                if stub.compress == "logto":
                    self.send_header("Vary", "Accept-Encoding")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_GET

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
