"""Pending clean-ups: compensations that must happen even when the request that needed them could not finish them.

A clean-up is an item in the stack's CleanupTable (its own table, not the idempotency table: the clean-up run scans
the whole table, and a scan of idempotency records would read every create of the last 24 hours; it also keeps the
clean-up function away from idempotency records). An operation writes the item *before* the forward step it may
have to undo (write-ahead: a Lambda killed mid-way still leaves its item), and deletes it once the change is
complete or undone. The scheduled clean-up function (and `make local`'s timer) runs what is due; each kind has one
handler that reads Logto, finishes or undoes, and says whether the item is done.

Items: `id` = "<kind>#<key>", `kind`, `data` (JSON), `created_at`, `not_before` (epoch seconds; nobody touches the
item earlier: the request that wrote it may still be working), `attempts`, `lease_until` (a run holding it), `attempt`
(the last `begin`'s own mark: a resend of it is told from an earlier attempt).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orgapi.base.aws_clients import AwsClients
from orgapi.base.deadline import Deadline
from orgapi.base.errors import Conflict, ServiceUnavailable
from orgapi.base.observability import logger, metrics

# Kinds (each has one handler in orgapi.operations.run_cleanups): an organization creation to complete or undo (orgapi.outcomes.creation),
# a member added by a request whose role grant failed and whose removal failed too (orgapi.outcomes.changes.add_members).
CREATE = "create"
STRANDED_MEMBER = "stranded_member"

LEASE_SECONDS = 120  # longer than a clean-up run's Lambda timeout
OVERDUE_SECONDS = 900  # an item still pending after this long needs a look (the alarm counts these)
MAX_BACKOFF_SECONDS = 600


@dataclass
class Cleanup:
    """A compensation that could not finish in its request, recorded to be run again."""

    id: str
    kind: str
    data: dict[str, Any]
    created_at: float
    not_before: float
    attempts: int = 0
    lease_until: float = 0.0

    @property
    def key(self) -> str:
        return self.id.split("#", 1)[1]


class CleanupBusy(Conflict):
    code = "request_in_progress"
    message = "A clean-up of an earlier attempt is running; retry shortly"


class CleanupStoreUnavailable(ServiceUnavailable):
    code = "cleanup_unavailable"
    message = "The service cannot record its clean-ups right now; retry later"


@dataclass
class RunResult:
    """What one clean-up run did."""

    done: int = 0
    failed: int = 0
    pending: int = 0
    overdue: int = 0
    not_due: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


class CleanupStore:
    def __init__(self, table_name: str, clock: Callable[[], float] = time.time, clients: AwsClients | None = None):
        self.table, self._clock = table_name, clock
        self._clients = clients or AwsClients()

    def now(self) -> float:
        return self._clock()

    @property
    def client(self) -> Any:
        return self._clients.get("dynamodb")

    def begin(self, kind: str, key: str, data: dict[str, Any], hold_seconds: float) -> Cleanup | None:
        """Write the item before a forward step (nobody runs it for `hold_seconds`). When an earlier attempt left
        an item under the same key, it is kept (its data too) and returned: that attempt's change may exist.
        CleanupBusy when a clean-up run holds the item right now."""
        from botocore.exceptions import ClientError

        now, attempt = self._clock(), uuid.uuid4().hex
        try:
            response = self.client.update_item(
                TableName=self.table,
                Key={"id": {"S": f"{kind}#{key}"}},
                UpdateExpression=(
                    "SET kind = :kind, #data = if_not_exists(#data, :data), created_at = if_not_exists(created_at, :now),"
                    " not_before = :not_before, attempts = if_not_exists(attempts, :zero), attempt = :attempt"
                ),
                ConditionExpression="attribute_not_exists(lease_until) OR lease_until < :now",
                ExpressionAttributeNames={"#data": "data"},
                ExpressionAttributeValues={
                    ":kind": {"S": kind},
                    ":data": {"S": json.dumps(data, separators=(",", ":"))},
                    ":now": {"N": repr(now)},
                    ":not_before": {"N": repr(now + hold_seconds)},
                    ":zero": {"N": "0"},
                    ":attempt": {"S": attempt},
                },
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise CleanupBusy(retry_after=5) from None
            logger.error("cleanup_store_failed", extra={"error": type(exc).__name__})
            raise CleanupStoreUnavailable(retry_after=2) from None
        except Exception as exc:  # endpoint unreachable, credentials: nothing was changed in Logto yet
            logger.error("cleanup_store_failed", extra={"error": type(exc).__name__})
            raise CleanupStoreUnavailable(retry_after=2) from None
        old = response.get("Attributes")
        if not old:
            return None
        if old.get("attempt", {}).get("S") == attempt and old.get("created_at", {}).get("N") == repr(now):
            # This call's own item, created by its first send: this is a resend after a lost answer (botocore retries
            # a read timeout), not an earlier attempt. (Had an earlier attempt's item been there, its created_at stays.)
            return None
        return _item(old)

    def update(self, cleanup_id: str, data: dict[str, Any], not_before: float | None = None) -> None:
        values: dict[str, Any] = {":data": {"S": json.dumps(data, separators=(",", ":"))}}
        expression = "SET #data = :data"
        if not_before is not None:
            expression += ", not_before = :not_before"
            values[":not_before"] = {"N": repr(not_before)}
        self.client.update_item(
            TableName=self.table,
            Key={"id": {"S": cleanup_id}},
            UpdateExpression=expression,
            ExpressionAttributeNames={"#data": "data"},
            ExpressionAttributeValues=values,
        )

    def done(self, cleanup_id: str) -> None:
        self.client.delete_item(TableName=self.table, Key={"id": {"S": cleanup_id}})

    def forget(self, cleanup_id: str) -> None:
        """`done` after a change that is complete: if the store fails now, the clean-up run finds the change complete
        and drops the item then, so the request still succeeds."""
        try:
            self.done(cleanup_id)
        except Exception as exc:
            logger.warning("cleanup_item_left", extra={"cleanup": cleanup_id, "error": type(exc).__name__})

    def pending(self) -> list[Cleanup]:
        items: list[Cleanup] = []
        start = None
        while True:
            kwargs: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
            if start:
                kwargs["ExclusiveStartKey"] = start
            page = self.client.scan(**kwargs)
            items.extend(_item(raw) for raw in page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if not start:
                return items

    def claim(self, cleanup: Cleanup) -> bool:
        """Take the item for one run (a lease), unless a request or another run holds it."""
        from botocore.exceptions import ClientError

        now = self._clock()
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"id": {"S": cleanup.id}},
                UpdateExpression="SET lease_until = :lease",
                ConditionExpression="attribute_exists(id) AND not_before <= :now"
                " AND (attribute_not_exists(lease_until) OR lease_until < :now)",
                ExpressionAttributeValues={":lease": {"N": repr(now + LEASE_SECONDS)}, ":now": {"N": repr(now)}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def retry_later(self, cleanup: Cleanup) -> None:
        delay = min(MAX_BACKOFF_SECONDS, 30 * 2**cleanup.attempts)
        self.client.update_item(
            TableName=self.table,
            Key={"id": {"S": cleanup.id}},
            UpdateExpression="SET attempts = attempts + :one, not_before = :not_before REMOVE lease_until",
            ExpressionAttributeValues={":one": {"N": "1"}, ":not_before": {"N": repr(self._clock() + delay)}},
        )


def _item(raw: Mapping[str, Any]) -> Cleanup:
    def number(name: str) -> float:
        return float(raw[name]["N"]) if name in raw else 0.0

    try:
        data = json.loads(raw["data"]["S"]) if "data" in raw else {}
    except ValueError:
        data = {}
    return Cleanup(
        id=raw["id"]["S"],
        kind=raw.get("kind", {}).get("S", ""),
        data=data if isinstance(data, dict) else {},
        created_at=number("created_at"),
        not_before=number("not_before"),
        attempts=int(number("attempts")),
        lease_until=number("lease_until"),
    )


Handler = Callable[[Cleanup, Deadline], bool]


def run_pending(store: CleanupStore, handlers: Mapping[str, Handler], deadline: Deadline) -> RunResult:
    """Run every due clean-up once. A handler returns True when the item is finished; False or an exception keeps
    it for a later run (with backoff). Items of unknown kinds are kept (and counted) for a human."""
    result = RunResult()
    now = store.now()
    for cleanup in store.pending():
        if deadline.remaining() < 2.0:
            result.pending += 1
            continue
        handler = handlers.get(cleanup.kind)
        if handler is None or cleanup.not_before > now or not store.claim(cleanup):
            result.pending += 1
            result.not_due += cleanup.not_before > now
            result.overdue += now - cleanup.created_at > OVERDUE_SECONDS
            continue
        try:
            finished = handler(cleanup, deadline)
        except Exception as exc:  # any failure keeps the item: it is retried, never dropped
            logger.warning("cleanup_failed", extra={"cleanup": cleanup.id, "error": type(exc).__name__})
            finished = False
        if finished:
            store.done(cleanup.id)
            result.done += 1
            result.kinds[cleanup.kind] = result.kinds.get(cleanup.kind, 0) + 1
        else:
            store.retry_later(cleanup)
            result.failed += 1
            result.pending += 1
            result.overdue += now - cleanup.created_at > OVERDUE_SECONDS
    metrics.add_metric(name="CleanupsDone", unit="Count", value=result.done)
    metrics.add_metric(name="CleanupsFailed", unit="Count", value=result.failed)
    metrics.add_metric(name="CleanupsPending", unit="Count", value=result.pending)
    metrics.add_metric(name="CleanupsOverdue", unit="Count", value=result.overdue)
    logger.info("cleanup_run", extra={"done": result.done, "failed": result.failed, "pending": result.pending})
    return result
