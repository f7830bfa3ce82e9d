"""The boto3 clients one execution environment uses: one per service, shared by every store.

Why shared: making a client costs time (the first one ≈ 100 ms: boto3's session, endpoint rules, the service model;
each further one ≈ 10 ms), and a write function used to make up to four DynamoDB clients (lease, rate limits,
clean-ups, audit) on its first request. In Lambda they are made during init (orgapi.operations.services); elsewhere on
first use, so read-only functions never make one.
Why a lock: first uses can run side by side (orgapi.base.side_by_side), and boto3's default session is not safe to make
clients from in several threads at once.
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
