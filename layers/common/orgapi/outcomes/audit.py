"""The audit trail and the change events: one entry per change that happened, and its event on EventBridge.

An operation notes its change with `Request.changed` where it is known to have happened (the outcome rules decide: a
lost answer found done counts; a refused, failed or undone change is never noted; a replayed Idempotency-Key never
runs the operation again), and the handler calls `record` for it (orgapi.gateway.handler). The entry is written to
the audit table before the answer; the handler publishes it after (`publish_recorded`). It is written with
`unpublished` set (a sparse index the clean-up reads), which is removed once EventBridge took the event: a publish
that failed, or a Lambda that died between the write and the publish, leaves it for the scheduled clean-up function,
which publishes it with the same `id` (consumers dedupe on it).

Table: `organizationId` (hash) and `sk` = "<time>#<id>" (range), so an organization's entries read newest first with
one Query; `expiration` is the TTL (AUDIT_RETENTION_DAYS). Entries hold ids only: never an e-mail, a token or a body.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from orgapi.base.aws_clients import AwsClients
from orgapi.base.errors import BadRequest
from orgapi.base.observability import logger, metrics

if TYPE_CHECKING:
    from orgapi.tokens.identity import Caller

SOURCE = "orgapi"
UNPUBLISHED_INDEX = "unpublished"
# The answer of each action's route: the entry's `status` (only changes that happened are recorded).
ACTIONS: Mapping[str, int] = {
    "organization.created": 201,
    "organization.updated": 200,
    "organization.deleted": 204,
    "member.added": 201,
    "member.removed": 204,
    "member.roles_replaced": 200,
    "member.left": 204,
    "invitation.created": 201,
    "invitation.revoked": 204,
    "invitation.message_sent": 204,
    "invitation.accepted": 200,
    "invitation.declined": 200,
}
TARGET_KEYS = ("userIds", "roleNames", "invitationId")  # ids and role names only, nothing a person typed
# The request that wrote an entry publishes it within its own run (at most the Lambda's timeout, 10 s): the clean-up
# leaves it alone that long, so a normal publish is not doubled. After a failed publish it is due at once.
PUBLISH_GRACE_SECONDS = 30
_SORT_KEY = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z#[0-9a-f-]{36}$")


def actor_of(caller: Caller) -> dict[str, str | None]:
    return {
        "userId": caller.subject if caller.is_user else None,
        "applicationId": None if caller.is_user else caller.subject,
        "clientId": caller.client_id or None,
    }


def _time(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(now * 1000) % 1000:03d}Z"


@dataclass
class Page:
    """One page of an organization's audit trail and the cursor to the next."""

    entries: list[dict[str, Any]]
    cursor: str | None


class AuditTrail:
    def __init__(
        self,
        table: str,
        bus: str,
        retention_days: int,
        clock: Callable[[], float] = time.time,
        clients: AwsClients | None = None,
    ):
        self.table, self.bus, self.retention_days, self._clock = table, bus, retention_days, clock
        self._clients = clients or AwsClients()
        self._recorded: list[dict[str, Any]] = []  # this invocation's entries, published after the answer is built

    @property
    def dynamodb(self) -> Any:
        return self._clients.get("dynamodb")

    @property
    def events(self) -> Any:
        return self._clients.get("events")

    # -- writing ----------------------------------------------------------------------------------------------------

    def record(self, caller: Caller, action: str, organization_id: str, **targets: Any) -> dict[str, Any]:
        """Write the entry of a change that happened (before the answer); `publish_recorded` sends its event."""
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}")
        now = self._clock()
        entry = {
            "id": str(uuid.uuid4()),
            "time": _time(now),
            "action": action,
            "organizationId": organization_id,
            "actor": actor_of(caller),
            "targets": {k: v for k, v in targets.items() if k in TARGET_KEYS and v is not None},
            "status": ACTIONS[action],
        }
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    "organizationId": {"S": organization_id},
                    "sk": {"S": f"{entry['time']}#{entry['id']}"},
                    "action": {"S": action},
                    "actorId": {"S": caller.subject},
                    "entry": {"S": json.dumps(entry, separators=(",", ":"))},
                    "expiration": {"N": str(int(now) + self.retention_days * 86400)},
                    UNPUBLISHED_INDEX: {"S": "1"},
                    "due": {"N": repr(now + PUBLISH_GRACE_SECONDS)},
                },
            )
        except Exception as exc:
            # The change happened and stays: the answer says so. The event still goes out (below), and the log line
            # (ids only) keeps the entry for the operator; the metric raises the alarm.
            metrics.add_metric(name="AuditWriteFailed", unit="Count", value=1)
            logger.error("audit_entry_not_written", extra={"error": type(exc).__name__, "entry": entry})
            entry = {**entry, "_unstored": True}
        self._recorded.append(entry)
        return entry

    def publish_recorded(self) -> None:
        """Publish this invocation's entries; what fails is left to the clean-up run (marked due now)."""
        recorded, self._recorded = self._recorded, []
        for entry in recorded:
            unstored = entry.pop("_unstored", False)
            if self._put_event(entry):
                if not unstored:
                    self._mark_published(entry)
            elif not unstored:
                self._due_now(entry)

    def discard_recorded(self) -> None:
        self._recorded = []

    def _put_event(self, entry: dict[str, Any]) -> bool:
        try:
            response = self.events.put_events(
                Entries=[
                    {
                        "Source": SOURCE,
                        "DetailType": entry["action"],
                        "Detail": json.dumps(entry, separators=(",", ":")),
                        "EventBusName": self.bus,
                    }
                ]
            )
            failed = response.get("FailedEntryCount", 0)
        except Exception as exc:
            logger.warning("event_publish_failed", extra={"event_id": entry["id"], "error": type(exc).__name__})
            failed = 1
        else:
            if failed:
                logger.warning("event_publish_failed", extra={"event_id": entry["id"], "error": "FailedEntry"})
        if failed:
            metrics.add_metric(name="EventPublishFailed", unit="Count", value=1)
        return not failed

    def _key(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        return {"organizationId": {"S": entry["organizationId"]}, "sk": {"S": f"{entry['time']}#{entry['id']}"}}

    def _mark_published(self, entry: Mapping[str, Any]) -> None:
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(entry),
                UpdateExpression=f"REMOVE {UNPUBLISHED_INDEX}, due",
                ConditionExpression="attribute_exists(sk)",
            )
        except Exception as exc:  # published, still marked: the clean-up publishes it once more (same id)
            logger.warning("event_not_marked_published", extra={"event_id": entry["id"], "error": type(exc).__name__})

    def _due_now(self, entry: Mapping[str, Any]) -> None:
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(entry),
                UpdateExpression="SET due = :now",
                ConditionExpression="attribute_exists(sk)",
                ExpressionAttributeValues={":now": {"N": repr(self._clock())}},
            )
        except Exception as exc:  # still unpublished: the clean-up takes it after the grace period
            logger.warning("event_not_marked_due", extra={"event_id": entry["id"], "error": type(exc).__name__})

    # -- the clean-up run -------------------------------------------------------------------------------------------

    def publish_unpublished(self, time_left: Callable[[], float]) -> tuple[int, int]:
        """Publish every due entry still marked unpublished. Returns (published now, left unpublished)."""
        published = left = 0
        now = self._clock()
        start = None
        while True:
            kwargs: dict[str, Any] = {
                "TableName": self.table,
                "IndexName": UNPUBLISHED_INDEX,
                "KeyConditionExpression": "#u = :one",
                "ExpressionAttributeNames": {"#u": UNPUBLISHED_INDEX},
                "ExpressionAttributeValues": {":one": {"S": "1"}},
            }
            if start:
                kwargs["ExclusiveStartKey"] = start
            page = self.dynamodb.query(**kwargs)
            for item in page.get("Items", []):
                entry = json.loads(item["entry"]["S"])
                if float(item.get("due", {}).get("N", "0")) > now:
                    continue  # its own request may still publish it
                if time_left() > 1.0 and self._put_event(entry):
                    self._mark_published(entry)
                    published += 1
                else:
                    left += 1
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        metrics.add_metric(name="EventsPublishedLate", unit="Count", value=published)
        metrics.add_metric(name="EventsUnpublished", unit="Count", value=left)
        logger.info("audit_events_run", extra={"published": published, "unpublished": left})
        return published, left

    # -- reading ----------------------------------------------------------------------------------------------------

    def page(
        self, organization_id: str, limit: int, cursor: str | None, action: str | None, actor_id: str | None
    ) -> Page:
        """An organization's entries, newest first: at most `limit`, and a cursor when there may be more."""
        start = _cursor_key(cursor, organization_id) if cursor else None
        filters, values, names = [], {":org": {"S": organization_id}}, {}
        if action:
            filters.append("#a = :action")
            values[":action"], names["#a"] = {"S": action}, "action"
        if actor_id:
            filters.append("actorId = :actor")
            values[":actor"] = {"S": actor_id}
        entries: list[tuple[str, dict[str, Any]]] = []
        while len(entries) <= limit:  # one more than asked tells whether there is a next page
            kwargs: dict[str, Any] = {
                "TableName": self.table,
                "KeyConditionExpression": "organizationId = :org",
                "ExpressionAttributeValues": values,
                "ScanIndexForward": False,
                "Limit": limit + 1,
            }
            if names:
                kwargs["ExpressionAttributeNames"] = names
            if filters:
                kwargs["FilterExpression"] = " AND ".join(filters)
            if start:
                kwargs["ExclusiveStartKey"] = start
            response = self.dynamodb.query(**kwargs)
            entries += [(item["sk"]["S"], json.loads(item["entry"]["S"])) for item in response.get("Items", [])]
            start = response.get("LastEvaluatedKey")
            if not start:
                break
        more = len(entries) > limit
        entries = entries[:limit]
        next_cursor = _encode_cursor(organization_id, entries[-1][0]) if more and entries else None
        return Page([entry for _, entry in entries], next_cursor)


def _encode_cursor(organization_id: str, sort_key: str) -> str:
    raw = json.dumps({"o": organization_id, "k": sort_key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_key(cursor: str, organization_id: str) -> dict[str, Any]:
    """The position a cursor names, in this organization only: the query's partition is always the path's
    organization, and a cursor made for another one is refused rather than reinterpreted."""
    invalid = BadRequest("cursor is not a cursor this route gave out", code="invalid_cursor")
    if len(cursor) > 512:
        raise invalid
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise invalid from None
    if not isinstance(data, dict) or data.get("o") != organization_id or not isinstance(data.get("k"), str):
        raise invalid
    if not _SORT_KEY.match(data["k"]):
        raise invalid
    return {"organizationId": {"S": organization_id}, "sk": {"S": data["k"]}}


def record(trail: AuditTrail | None, caller: Caller, action: str, organization_id: str, **targets: Any) -> None:
    """The handler's one call per change an operation noted (no-op without AUDIT_TABLE: a deployed function that
    changes something refuses to start without it, gateway.handler.build_handler)."""
    if trail is not None:
        trail.record(caller, action, organization_id, **targets)
