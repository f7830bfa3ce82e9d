"""A DynamoDB client that sends every write twice and answers with the second answer: what botocore does when a
write's answer is lost (a read timeout, a dropped connection) and its retry policy sends it again. The first send
landed; the caller only ever sees the second. A write the service makes must mean the same either way."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from botocore.exceptions import ClientError

WRITES = frozenset({"put_item", "update_item", "delete_item"})


class ResendingClient:
    def __init__(self, real: Any):
        self.real = real
        self.sent: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.real, name)
        if name not in WRITES:
            return method

        def twice(**kwargs: Any) -> Any:
            self.sent += [name, name]
            with suppress(ClientError):  # refused the first time: the resend is refused the same way
                method(**kwargs)  # its answer is lost
            return method(**kwargs)

        return twice
