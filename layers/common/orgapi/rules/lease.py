"""A short per-organization lease in the stack's DynamoDB table, so changes that can drop the last CREATOR_ROLE holder
run one at a time per organization (the orphan guard reads, then acts: two such changes side by side could each see
the other holder and both succeed).

A conditional put takes the lease; it ends by itself at `until` (a crashed request cannot lock an organization), and
DynamoDB's TTL on `expiration` removes the item later. Release deletes it only if it is still ours.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

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


class LeaseStore:
    def __init__(self, table_name: str, clock=time.time, sleep=time.sleep):
        self._table_name, self._clock, self._sleep = table_name, clock, sleep

    @cached_property
    def _client(self) -> Any:
        import boto3  # only the functions that guard membership changes pay for boto3

        return boto3.client("dynamodb")

    @contextmanager
    def hold(self, organization_id: str, deadline: Deadline) -> Iterator[None]:
        key = {"id": {"S": f"lease#organization#{organization_id}"}}
        owner = uuid.uuid4().hex
        self._acquire(key, owner, deadline)
        try:
            yield
        finally:
            self._release(key, owner)

    def _acquire(self, key: dict[str, Any], owner: str, deadline: Deadline) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        delay = 0.02
        while True:
            now = self._clock()
            until = now + min(MAX_HOLD_SECONDS, deadline.remaining() + 1.0)
            try:
                self._client.put_item(
                    TableName=self._table_name,
                    Item={
                        **key,
                        "owner": {"S": owner},
                        "until": {"N": f"{until:.3f}"},
                        "expiration": {"N": str(int(until) + 60)},
                    },
                    ConditionExpression="attribute_not_exists(id) OR #until < :now",
                    ExpressionAttributeNames={"#until": "until"},
                    ExpressionAttributeValues={":now": {"N": f"{now:.3f}"}},
                )
                return
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    logger.error(
                        "organization_lease_failed", extra={"error": exc.response.get("Error", {}).get("Code")}
                    )
                    raise _unavailable() from None
            except BotoCoreError as exc:
                logger.error("organization_lease_failed", extra={"error": type(exc).__name__})
                raise _unavailable() from None
            if deadline.remaining() < RESERVED_SECONDS + delay:
                logger.info("organization_lease_busy")
                raise OrganizationBusy(retry_after=1)
            self._sleep(delay * (0.5 + random.random()))  # noqa: S311 - jitter, not a secret
            delay = min(delay * 2, 0.25)

    def _release(self, key: dict[str, Any], owner: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.delete_item(
                TableName=self._table_name,
                Key=key,
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except (ClientError, BotoCoreError):
            # Not ours any more (it ran out) or DynamoDB failed: either way it ends by itself at `until`.
            logger.warning("organization_lease_release_failed")
