"""A tiny loopback HTTP server for tests that need a real socket (JWKS fetch, timeouts)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StubServer:
    """Serves `routes[path] -> (status, body_dict, delay_seconds)`; counts requests per path."""

    def __init__(self, routes: dict[str, Callable[[], tuple[int, Any, float]]]):
        self.routes, self.hits = routes, {}
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                stub.hits[self.path] = stub.hits.get(self.path, 0) + 1
                route = stub.routes.get(self.path)
                status, body, delay = route() if route else (404, {"code": "not_found"}, 0)
                time.sleep(delay)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
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
