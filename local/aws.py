"""Local AWS for `make local`: a moto server (Secrets Manager, DynamoDB) that exits with its parent.

Run: python -m local.aws --port 5000

moto's threaded server evaluates a DynamoDB condition and writes the item in separate steps, so two conditional puts
side by side can both succeed; real DynamoDB makes each conditional write atomic (the orphan guard's lease relies on
it). One lock around each request gives the local run the same guarantee.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Callable, Iterable
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    follow_parent()
    # Each function's request is checked against its own role first (local/enforce.py).
    app = front_door(serialized(DomainDispatcherApplication(create_backend_app)))
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"local AWS (moto) on http://127.0.0.1:{args.port}", flush=True)
    stop.wait()
    server.shutdown()


if __name__ == "__main__":
    main()
