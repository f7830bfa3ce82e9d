"""The stand-in's request plumbing: counting requests, injecting the faults tests ask for (POST /__dev/faults, rules
or a rate-based chaos mode), losing answers after the work was done, and the store lock every request holds (one
SQLite connection). GET /__dev/stats reads the counters; DELETE /__dev/faults clears the rules."""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g, request

from local.logto.store import Store
from local.logto.tenant_seed import SEEDING


def _fault_label(fault: dict[str, Any]) -> str:
    """How /__dev/stats counts an injected fault: its status code, "slow", "lost" (answered 500) or "drop"."""
    if fault.get("lost"):
        return {"status": "lost"}.get(fault["lost"], fault["lost"])  # "drop", "garbled" count as themselves
    return str(fault["status"]) if fault.get("status") else "slow"


class RequestPlumbing:
    def __init__(self, store: Store, json_answer: Callable[..., Response]):
        self.store, self.json = store, json_answer
        self.stats: dict[str, Any] = {
            "token_requests": 0,
            "management_requests": 0,
            "jwks_requests": 0,
            "routes": {},
            "faults": {},
        }
        self.faults: list[dict[str, Any]] = []
        self.chaos: dict[str, Any] = {}
        self.lock = threading.Lock()  # the counters, the rules and (in server.py) the outbox

    def install(self, app: Flask) -> None:
        def chaos_fault() -> dict[str, Any] | None:
            """Draw this request's fault in the rate-based mode (caller holds self.lock)."""
            if not self.chaos or self.chaos["rng"].random() >= self.chaos["rate"]:
                return None
            kind = self.chaos["rng"].choice(self.chaos["kinds"])
            if kind.isdigit():
                retry = {"retryAfter": self.chaos["retryAfter"]} if kind in ("429", "503") else {}
                return {"status": int(kind), **retry}
            if kind == "slow":
                return {"delayMs": self.chaos["slowMs"]}
            return {"lost": "status" if kind == "lost" else "drop"}

        @app.before_request
        def count_and_inject_faults() -> Response | None:
            path = request.path
            if request.environ.get(SEEDING):
                return None  # the stand-in's own seed (tenant_seed.py): Store.seed holds the store lock throughout
            if path.startswith("/__dev/"):
                # The dev helpers read the same SQLite connection (minting reads roles): they take the store lock too,
                # or concurrent use of the connection fails (sqlite3.InterfaceError under load, seen in make chaos).
                g.store_lock = self.store.lock
                self.store.lock.acquire()
                return None
            with self.lock:
                kind = (
                    "token_requests"
                    if path == "/oidc/token"
                    else "jwks_requests"
                    if path == "/oidc/jwks"
                    else "management_requests"
                    if path.startswith("/api/")
                    else None
                )
                if kind:
                    self.stats[kind] += 1
                key = f"{request.method} {path}"
                self.stats["routes"][key] = self.stats["routes"].get(key, 0) + 1
                fault = next(
                    (
                        f
                        for f in self.faults
                        if path.startswith(f["pathPrefix"])
                        and f.get("method", request.method) == request.method
                        and f["times"] != 0
                    ),
                    None,
                )
                if fault:
                    fault["times"] -= 1
                elif path.startswith("/api/"):
                    fault = chaos_fault()
                if fault:
                    label = _fault_label(fault)
                    self.stats["faults"][label] = self.stats["faults"].get(label, 0) + 1
            if fault:
                time.sleep(fault.get("delayMs", 0) / 1000)
                if fault.get("status"):
                    headers = {"Retry-After": str(fault["retryAfter"])} if fault.get("retryAfter") is not None else {}
                    return self.json({"code": "fault.injected", "message": "Injected fault."}, fault["status"], headers)
                g.lost_answer = fault.get("lost")
            g.store_lock = self.store.lock
            self.store.lock.acquire()
            return None

        @app.after_request
        def lose_the_answer(response: Response) -> Response:
            """A "lost" fault: the request was carried out; now its answer goes missing."""
            lost = g.pop("lost_answer", None)
            if lost == "drop":
                sock = request.environ.get("werkzeug.socket")
                if sock is not None:
                    # Close both directions: the server's write of this response fails (Werkzeug counts that as a
                    # dropped connection) and the client reads EOF with no status line.
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                    return response
                lost = "status"  # no socket (Flask test client): the closest thing is an answer nobody can trust
            if lost == "status":
                return self.json(
                    {"code": "fault.injected", "message": "Injected fault after the change was made."}, 500
                )
            if lost == "garbled" and response.status_code < 300:
                return Response("<html>upstream proxy</html>", 200, content_type="application/json")
            return response

        @app.teardown_request
        def release(_: BaseException | None) -> None:
            if request.environ.get(SEEDING):
                return  # a seed request shares the app context (and `g`) of the request that seeds: its hold is not ours
            lock = g.pop("store_lock", None)
            if lock is not None:
                lock.release()

        @app.get("/__dev/stats")
        def read_stats() -> Response:
            with self.lock:
                return self.json(json.loads(json.dumps(self.stats)))

        @app.post("/__dev/faults")
        def add_fault() -> Response:
            data = request.get_json(silent=True) or {}
            if "rate" in data:
                kinds = [str(k) for k in data.get("kinds", ["429", "500", "slow", "lost", "drop"])]
                known = all(k in ("slow", "lost", "drop") or (k.isdigit() and len(k) == 3) for k in kinds)
                if not kinds or not known or not 0 <= float(data["rate"]) <= 1:
                    return self.json({"message": "rate in [0, 1]; kinds: status codes, slow, lost, drop"}, 400)
                with self.lock:
                    self.chaos.clear()
                    self.chaos.update(
                        rate=float(data["rate"]),
                        kinds=kinds,
                        rng=random.Random(data.get("seed")),  # noqa: S311 - fault injection, not cryptography
                        slowMs=int(data.get("slowMs", 1500)),
                        retryAfter=data.get("retryAfter", 1),
                    )
                return self.json({"chaos": {k: v for k, v in self.chaos.items() if k != "rng"}}, 201)
            if data.get("lost") not in (None, "status", "drop", "garbled"):
                return self.json({"message": 'lost is "status", "drop" or "garbled"'}, 400)
            with self.lock:
                self.faults.append(
                    {
                        "pathPrefix": data.get("pathPrefix", "/api/"),
                        "times": int(data.get("times", 1)),
                        **{k: data[k] for k in ("method", "status", "retryAfter", "delayMs", "lost") if k in data},
                    }
                )
            return self.json({"faults": len(self.faults)}, 201)

        @app.delete("/__dev/faults")
        def clear_faults() -> Response:
            with self.lock:
                self.faults.clear()
                self.chaos.clear()
            return Response(status=204)
