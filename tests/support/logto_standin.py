"""The project's Logto stand-in served in-process on a loopback port, for handler tests without the gateway."""

from __future__ import annotations

import threading
from pathlib import Path

from werkzeug.serving import make_server

from local.logto.server import create_app


class InProcessLogto:
    def __init__(self, data: Path, api_resource: str):
        server = make_server("127.0.0.1", 0, app=None)  # placeholder to learn a free port
        port = server.server_port
        server.server_close()
        self.url = f"http://127.0.0.1:{port}"
        self.app = create_app(
            data, issuer_base=self.url, management_resource="https://default.logto.app/api", api_resource=api_resource
        )
        self.server = make_server("127.0.0.1", port, self.app, threaded=True)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.client = self.app.test_client()

    def stats(self) -> dict:
        return self.client.get("/__dev/stats").get_json()

    def fault(self, **spec) -> None:
        self.client.post("/__dev/faults", json=spec)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
