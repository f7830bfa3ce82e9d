"""Local AWS for `make local`: a moto server (Secrets Manager, DynamoDB) that exits with its parent.

Run: python -m local.aws --port 5000
"""

from __future__ import annotations

import argparse
import signal
import threading

from moto.server import ThreadedMotoServer

from local.lifeline import follow_parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    follow_parent()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port)
    server.start()
    print(f"local AWS (moto) on http://127.0.0.1:{args.port}", flush=True)
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
