"""A short per-organization lease in the stack's DynamoDB table, so changes that can drop the last CREATOR_ROLE holder
run one at a time per organization (the orphan guard reads, then acts: two such changes side by side could each see
the other holder and both succeed).

A conditional put takes the lease; it ends by itself at `until` (a crashed request cannot lock an organization), and
DynamoDB's TTL on `expiration` removes the item later. Release (only if it is still ours) marks the item free and
says when (`released`), rather than deleting it: a request that read a count beside taking the lease
(orgapi.operations.request) learns from the item it replaced whether a change may have landed since its read began
(`Lease.quiet_since`), and reads again only then. `keep` lets it run out instead, for a change that may still land.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from orgapi.base.aws_clients import AwsClients
from orgapi.base.deadline import Deadline
from orgapi.base.errors import Conflict, ServiceUnavailable
from orgapi.base.observability import logger

MAX_HOLD_SECONDS = 30.0  # longer than any one request's Logto calls; bounds how long a crash blocks the organization
RESERVED_SECONDS = 1.5  # left after waiting, for the guarded change itself


class OrganizationBusy(Conflict):
    code, message = "organization_busy", "Another membership change in this organization is in progress; retry"


def _unavailable() -> ServiceUnavailable:
    # Without the lease the orphan guard cannot be kept: refuse the change rather than risk an organization.
    return ServiceUnavailable("Membership changes are briefly unavailable", code="lease_unavailable", retry_after=2)


@dataclass(frozen=True)
class Lease:
    """The organization's lease, held until `release` (or until it runs out by itself)."""

    store: LeaseStore
    organization_id: str
    owner: str
    # When the organization's last change under the lease could have landed: the previous holder's release (or, for a
    # holder that never released, when its lease ran out); 0 when no holder is on record.
    quiet_since: float = 0.0

    def release(self) -> None:
        self.store.release(self)

    def keep(self) -> None:
        self.store.keep(self)


def _key(organization_id: str) -> dict[str, Any]:
    return {"id": {"S": f"lease#organization#{organization_id}"}}


class LeaseStore:
    def __init__(self, table_name: str, clock=time.time, sleep=time.sleep, clients: AwsClients | None = None):
        self._table_name, self._clock, self._sleep = table_name, clock, sleep
        self._clients = clients or AwsClients()

    @property
    def _client(self) -> Any:
        return self._clients.get("dynamodb")

    @contextmanager
    def hold(self, organization_id: str, deadline: Deadline) -> Iterator[Lease]:
        lease = self.acquire(organization_id, deadline)
        try:
            yield lease
        finally:
            lease.release()

    def acquire(self, organization_id: str, deadline: Deadline, on_busy: Callable[[], None] | None = None) -> Lease:
        """The lease, waiting while another request holds it (409 `organization_busy` when the deadline nears).
        `on_busy` is called once, before the first wait."""
        owner = uuid.uuid4().hex
        previous = self._acquire(_key(organization_id), owner, deadline, on_busy)
        if previous.get("owner", {}).get("S") == owner:
            # Our own put, sent again after its answer was lost (botocore retries a read timeout): what the first one
            # replaced is unknown, so nothing is assumed quiet and the holder reads its count again.
            return Lease(self, organization_id, owner, quiet_since=math.inf)
        released = previous.get("released") or previous.get("until") or {"N": "0"}
        return Lease(self, organization_id, owner, quiet_since=float(released["N"]))

    def _acquire(
        self, key: dict[str, Any], owner: str, deadline: Deadline, on_busy: Callable[[], None] | None
    ) -> dict[str, Any]:
        """The item it replaced (empty when there was none)."""
        from botocore.exceptions import BotoCoreError, ClientError

        delay = 0.02
        while True:
            now = self._clock()
            until = now + min(MAX_HOLD_SECONDS, deadline.remaining() + 1.0)
            try:
                answer = self._client.put_item(
                    TableName=self._table_name,
                    Item={
                        **key,
                        "owner": {"S": owner},
                        "until": {"N": f"{until:.3f}"},
                        "expiration": {"N": str(int(until) + 60)},
                    },
                    # ... or ours already: the resend of a put whose answer was lost must not wait for itself
                    ConditionExpression="attribute_not_exists(id) OR #until < :now OR #owner = :owner",
                    ExpressionAttributeNames={"#until": "until", "#owner": "owner"},
                    ExpressionAttributeValues={":now": {"N": f"{now:.3f}"}, ":owner": {"S": owner}},
                    ReturnValues="ALL_OLD",
                )
                return dict(answer.get("Attributes") or {})
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    logger.error(
                        "organization_lease_failed", extra={"error": exc.response.get("Error", {}).get("Code")}
                    )
                    raise _unavailable() from None
            except BotoCoreError as exc:
                logger.error("organization_lease_failed", extra={"error": type(exc).__name__})
                raise _unavailable() from None
            if on_busy is not None:
                on_busy()
                on_busy = None
            if deadline.remaining() < RESERVED_SECONDS + delay:
                logger.info("organization_lease_busy")
                raise OrganizationBusy(retry_after=1)
            self._sleep(delay * (0.5 + random.random()))  # noqa: S311 - jitter, not a secret
            delay = min(delay * 2, 0.25)

    def keep(self, lease: Lease) -> None:
        """Hold the lease for MAX_HOLD_SECONDS from now and let it run out, rather than release it: a change of ours
        whose answer was lost may still land, and nobody may count or guard the organization without it meanwhile."""
        until = self._clock() + MAX_HOLD_SECONDS
        values = {":until": {"N": f"{until:.3f}"}, ":expiration": {"N": str(int(until) + 60)}}
        if self._update_if_ours(lease, "SET #until = :until, expiration = :expiration", values):
            logger.info("organization_lease_kept", extra={"seconds": MAX_HOLD_SECONDS})
        else:  # it still runs out by itself at the `until` it was taken with (the request's deadline)
            logger.warning("organization_lease_not_kept")

    def release(self, lease: Lease) -> None:
        """Free the lease if it is still ours, saying when (the next holder's `quiet_since`)."""
        values = {":zero": {"N": "0"}, ":now": {"N": f"{self._clock():.3f}"}}
        if not self._update_if_ours(lease, "SET #until = :zero, released = :now REMOVE #owner", values):
            # Not ours any more (it ran out) or DynamoDB failed: either way it ends by itself at `until`.
            logger.warning("organization_lease_release_failed")

    def _update_if_ours(self, lease: Lease, update: str, values: dict[str, Any]) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.update_item(
                TableName=self._table_name,
                Key=_key(lease.organization_id),
                UpdateExpression=update,
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner", "#until": "until"},
                ExpressionAttributeValues={":owner": {"S": lease.owner}, **values},
            )
        except (ClientError, BotoCoreError):
            return False
        return True
