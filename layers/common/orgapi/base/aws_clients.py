"""The boto3 clients one execution environment uses: made on first use, one per service, shared by every store.

Why shared: making a client costs tens of milliseconds (its service model, its endpoint rules), paid by the request
that needs it first; a write function used to make up to four DynamoDB clients (lease, rate limits, clean-ups, audit).
Why a lock: those first uses run side by side (orgapi.base.side_by_side), and boto3's default session is not safe to
make clients from in several threads at once. (The default session, not one of our own: a new session loads again what
the default one has loaded for the Secrets Manager client, ≈ 80 ms instead of ≈ 10 ms per client.)
Read-only functions never import boto3: it is imported on first use.
"""

from __future__ import annotations

import threading
from typing import Any

from orgapi.base.observability import logger

# Short timeouts: every call is made inside a request, within the Lambda's time (10 s), as the audit writes always were.
_TIMEOUTS = {"connect_timeout": 2, "read_timeout": 3, "retries": {"mode": "standard"}}
_DEFAULT_SESSION = threading.Lock()  # held while boto3's default session makes a client


class AwsClients:
    """One boto3 client per service, made on first use. `made` are clients to use as they are (tests)."""

    def __init__(self, **made: Any):
        self._clients: dict[str, Any] = dict(made)

    def get(self, service: str) -> Any:
        client = self._clients.get(service)
        if client is None:
            with _DEFAULT_SESSION:
                client = self._clients.get(service)
                if client is None:
                    client = self._clients[service] = self._make(service)
        return client

    def prepare(self, *services: str) -> None:
        """Make these clients now (a function's init). A failure is logged, not raised: the first use tries again."""
        for service in services:
            try:
                self.get(service)
            except Exception as exc:  # e.g. no region configured: the request that needs it answers 503 then
                logger.warning("aws_client_not_made", extra={"service": service, "error": type(exc).__name__})

    def _make(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(service, config=Config(**_TIMEOUTS))
