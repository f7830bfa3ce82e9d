"""Local AWS for `make local`: a moto server (Secrets Manager, DynamoDB, EventBridge) that exits with its parent.

Run: python -m local.aws --port 5000

At its front door it keeps what was put on EventBridge (the change events, orgapi.outcomes.audit): `GET /__local/events` lists
them oldest first as {source, detailType, detail}; `POST /__local/eventbridge {"fail": true}` makes every PutEvents
fail (500 InternalFailure, nothing kept) until `{"fail": false}`, so the late publishing by the clean-up run shows;
`{"failRate": 0.1, "seed"?: 1}` fails that share of them (`make chaos`).

moto's threaded server evaluates a DynamoDB condition and writes the item in separate steps, so two conditional puts
side by side can both succeed; real DynamoDB makes each conditional write atomic (the orphan guard's lease relies on
it). One lock around each request gives the local run the same guarantee.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import threading
from collections.abc import Callable, Iterable
from io import BytesIO
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from local.enforce import front_door
from local.lifeline import follow_parent


def serialized(app: Callable[..., Iterable[bytes]]) -> Callable[..., list[bytes]]:
    lock = threading.Lock()

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with lock:
            return list(app(environ, start_response))  # the whole body is produced under the lock

    return wsgi


class EventFrontDoor:
    """Keeps the entries of every PutEvents that reaches moto, and fails them on request (the fault switch)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app, self.events, self.fail, self.fail_rate = app, [], False, 0.0
        self.rng = random.Random()  # noqa: S311 - fault injection, not cryptography
        self.failed = 0
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == "/__local/events" and method == "GET":
            with self.lock:
                return _json(start_response, "200 OK", list(self.events))
        if path == "/__local/events" and method == "DELETE":
            with self.lock:
                self.events.clear()
            return _json(start_response, "200 OK", {"cleared": True})
        if path == "/__local/eventbridge":
            if method == "POST":
                body = _read(environ)
                if isinstance(body, dict):
                    self.fail = bool(body.get("fail"))
                    self.fail_rate = min(1.0, max(0.0, float(body.get("failRate") or 0)))
                    self.rng.seed(body.get("seed"))
            state = {"fail": self.fail, **({"failRate": self.fail_rate} if self.fail_rate else {})}
            return _json(start_response, "200 OK", {**state, **({"failed": self.failed} if self.failed else {})})
        if environ.get("HTTP_X_AMZ_TARGET") == "AWSEvents.PutEvents":
            raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            with self.lock:
                failing = self.fail or self.rng.random() < self.fail_rate
                self.failed += failing
            if failing:
                error = {"__type": "InternalFailure", "message": "EventBridge is failing (local fault switch)"}
                return _json(start_response, "500 Internal Server Error", error, "application/x-amz-json-1.1")
            environ["wsgi.input"] = BytesIO(raw)
            try:
                entries = json.loads(raw).get("Entries") or []
            except ValueError:
                entries = []
            with self.lock:
                for entry in entries:
                    try:
                        detail = json.loads(entry.get("Detail") or "null")
                    except ValueError:
                        detail = entry.get("Detail")
                    self.events.append(
                        {"source": entry.get("Source"), "detailType": entry.get("DetailType"), "detail": detail}
                    )
        return self.app(environ, start_response)


def _read(environ: dict[str, Any]) -> Any:
    try:
        return json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)) or b"{}")
    except ValueError:
        return None


def _json(start_response: Callable[..., Any], status: str, body: Any, kind: str = "application/json") -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", kind), ("Content-Length", str(len(data)))])
    return [data]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    follow_parent()
    # Each function's request is checked against its own role first (local/enforce.py).
    app = front_door(serialized(EventFrontDoor(DomainDispatcherApplication(create_backend_app))))
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"local AWS (moto) on http://127.0.0.1:{args.port}", flush=True)
    stop.wait()
    server.shutdown()


if __name__ == "__main__":
    main()
