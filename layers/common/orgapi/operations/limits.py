"""Limits that hold under concurrency and faults (contract: "Limits"; 0 = no limit).

Count limits (members, pending invitations per organization) are counted in Logto itself, under the organization's
lease (lease.py): the change is made before the lease is released, and the count it decides on is one no change can
have passed: read beside taking the lease, and read again under it when a change may have landed since that read
began (Request.lease). N requests at once with one place left run one after the other and exactly one gets it. The
lease is released beside the audit write, so a write pays about one round trip for its limits. A place is never stored
anywhere, so nothing can drift: a removed member, or an invitation that was accepted, declined, revoked or has
expired (even in Logto's console) frees its place the moment Logto stops counting it, and a refused, failed or undone
change never took one.

Rate limits (organizations created per user, invitation e-mails per organization and per invitee address, each per
24 hours) count events, which Logto keeps no record of. Each scope is one item in the stack's DynamoDB table holding
the places taken in the window (one attribute each: token -> when) and their number `n`. Taking a place is one conditional
update (`n < limit`); when that fails, the entries older than 24 hours are dropped in the same conditional update that
takes the place (`n < limit + dropped`, and each dropped entry must still be there), so concurrent takers cannot both
reuse one freed place. A change that did not happen gives its place back (the entry is removed); one that happened,
or may have (an e-mail whose answer was lost: Logto keeps no record to read back), keeps it.
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from orgapi.base.aws_clients import AwsClients
from orgapi.base.deadline import Deadline
from orgapi.base.errors import Conflict, RateLimited, ServiceUnavailable
from orgapi.base.observability import logger, metrics
from orgapi.base.side_by_side import together
from orgapi.outcomes import changes

if TYPE_CHECKING:
    from orgapi.operations.request import HeldLease, Request
    from orgapi.operations.services import Services

WINDOW_SECONDS = 24 * 3600
MAX_DROPPED = 25  # expired entries dropped per update (keeps the expression well inside DynamoDB's size limits)
MAX_TRIES = 5  # conditional updates per take when other takers keep changing the item
EMAIL_PLACES = "email_places"  # the key of an e-mail's places started beside the lease (Request.ahead)
PLACE_PREFIX = "p_"  # the attributes holding places (beside `id`, `n`, `expiration`)


RATE_MESSAGES = {
    "orgs_created_per_user": "Too many organizations created by this user",
    "invitation_emails_per_org": "Too many invitation e-mails from this organization",
    "invitation_emails_per_invitee": "Too many invitation e-mails to this address",
}


class LimitReached(Conflict):
    code, message = "limit_reached", "A limit of this service is reached"

    def __init__(self, message: str, limit: int):
        super().__init__(message)
        self.limit = limit

    def body(self) -> dict[str, Any]:
        return {**super().body(), "limit": self.limit}


def _unavailable() -> ServiceUnavailable:
    # Without the store a rate limit cannot be kept: refuse rather than send e-mails nobody counts.
    return ServiceUnavailable("Limits cannot be checked right now", code="limits_unavailable", retry_after=2)


# -- count limits (Logto, under the organization's lease) --------------------------------------------------------------
@contextmanager
def member_places(
    request: Request, services: Services, organization_id: str, user_ids: list[str], *, leased: bool = False
) -> Iterator[None]:
    """Run the `with` body (which adds `user_ids`) only if the organization keeps at most MAX_MEMBERS_PER_ORG members
    afterwards (409 `limit_reached` otherwise), under the organization's lease with the count read beside taking it
    (Request.lease). `leased`: the caller needs the lease for the body anyway (granting roles), limit or not."""
    limit = services.settings.max_members_per_org
    if not limit and not leased:
        yield
        return
    count = partial(_member_count, services, organization_id, request.deadline) if limit else None
    with request.lease(services.leases(), organization_id, count) as held:
        if held.count is not None and held.count + len(set(user_ids)) > limit:
            # At the edge only: users who are members already take no new place (Logto adds them "on conflict do
            # nothing"), so find out who they are before refusing.
            existing = changes.members_among(services.logto, organization_id, user_ids, request.deadline)
            if held.count + len(set(user_ids) - existing) > limit:
                _refused("members_per_org", limit)
                raise LimitReached(f"This organization has reached its limit of {limit} members", limit)
        yield


def _member_count(services: Services, organization_id: str, deadline: Deadline) -> int:
    # Logto's paginated lists send the total in Total-Number (packages/core/src/middleware/koa-pagination.ts), so one
    # page of one member is enough. Without it, the pages are counted rather than guessed.
    members, total = services.logto.list_members(organization_id, deadline, page=1, page_size=1)
    if total is not None:
        return total
    count, page = 0, 1
    while True:
        members, _ = services.logto.list_members(organization_id, deadline, page=page, page_size=100)
        count += len(members)
        if len(members) < 100:
            return count
        page += 1


def pending_invitation_count(invitations: list[Any], now_ms: int) -> int:
    """Pending and unexpired, as Logto shows them (it computes `Expired` from `expiresAt` when reading). Logto's
    `GET /organization-invitations?organizationId=` answers every invitation of the organization in one unpaginated
    list (packages/core/src/routes/organization-invitation/index.ts), so one read counts them all."""
    return sum(
        1
        for i in invitations
        if isinstance(i, dict)
        and i.get("status") == "Pending"
        and isinstance(i.get("expiresAt"), int | float)
        and i["expiresAt"] > now_ms
    )


# -- rate limits (DynamoDB) -------------------------------------------------------------------------------------------
@dataclass
class Place:
    """One place taken in a rate window (an item in the state table), given back by its token."""

    item_id: str
    token: str


class RateWindows:
    """Places taken within a sliding 24-hour window, one item per scope in the stack's DynamoDB table."""

    def __init__(self, table_name: str, clock=time.time, clients: AwsClients | None = None):
        self._table_name, self._clock = table_name, clock
        self._clients = clients or AwsClients()

    @property
    def _client(self) -> Any:
        return self._clients.get("dynamodb")

    def take(self, item_id: str, limit: int) -> Place | int:
        """A place, or the seconds until one frees up."""
        from botocore.exceptions import ClientError

        token = PLACE_PREFIX + uuid.uuid4().hex[:16]
        now = self._clock()
        dropped: list[str] = []
        for _ in range(MAX_TRIES):
            # Each place is a top-level attribute (name: its token, value: when it was taken), so the first place
            # creates the item in the same call (an UpdateItem on a missing item starts from an empty one).
            names = {"#mine": token, **{f"#d{i}": d for i, d in enumerate(dropped)}}
            values: dict[str, Any] = {
                ":now": {"N": str(int(now * 1000))},
                ":delta": {"N": str(1 - len(dropped))},
                ":bound": {"N": str(limit + len(dropped))},
                ":expiration": {"N": str(int(now) + WINDOW_SECONDS + 60)},  # DynamoDB TTL: the item outlives its places
            }
            update = "SET #mine = :now, expiration = :expiration ADD n :delta"
            condition = "n < :bound" if dropped else "(attribute_not_exists(n) OR n < :bound)"
            if dropped:
                update += " REMOVE " + ", ".join(f"#d{i}" for i in range(len(dropped)))
                condition += "".join(f" AND attribute_exists(#d{i})" for i in range(len(dropped)))
            # Never twice: botocore sends a write again when its answer was lost, and a second count with no second
            # place behind it would never leave the window.
            condition = f"attribute_not_exists(#mine) AND {condition}"
            try:
                self._client.update_item(
                    TableName=self._table_name,
                    Key={"id": {"S": item_id}},
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return Place(item_id, token)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                item = exc.response.get("Item") or {}
                if token in item:  # the resend of a take that landed: the place is ours
                    return Place(item_id, token)
                taken = {k: int(v.get("N", "0")) for k, v in item.items() if k.startswith(PLACE_PREFIX)}
            cutoff = int((now - WINDOW_SECONDS) * 1000)
            dropped = sorted((k for k, t in taken.items() if t <= cutoff), key=lambda k: taken[k])[:MAX_DROPPED]
            if not dropped:
                oldest = min(taken.values(), default=int(now * 1000))
                return max(1, math.ceil((oldest + WINDOW_SECONDS * 1000) / 1000 - now))
        return 1  # other takers kept changing the item: try again in a moment

    def give_back(self, place: Place) -> None:
        """The change did not happen: its place is free again (only if it is still there: never twice)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.update_item(
                TableName=self._table_name,
                Key={"id": {"S": place.item_id}},
                UpdateExpression="REMOVE #mine ADD n :minus",
                ConditionExpression="attribute_exists(#mine)",
                ExpressionAttributeNames={"#mine": place.token},
                ExpressionAttributeValues={":minus": {"N": "-1"}},
            )
        except (BotoCoreError, ClientError) as exc:
            # The place stays taken until its window ends: an undercount is never possible, only a late place.
            logger.warning("limit_place_not_given_back", extra={"error": type(exc).__name__})


@dataclass
class Places:
    """Rate-limit places a request holds; `give_back` frees them when the change they were for did not happen."""

    windows: RateWindows | None
    taken: list[Place] = field(default_factory=list)

    def give_back(self) -> None:
        if self.windows is not None:
            for place in self.taken:
                self.windows.give_back(place)
        self.taken = []

    def emailed(self, outcome: dict[str, Any]) -> dict[str, Any]:
        """An invitation e-mail's outcome (`{"sent": true|false|null, ...}`): not sent gives its places back."""
        if outcome.get("sent") is False:
            self.give_back()
        return outcome


def _take_all(services: Services, scopes: list[tuple[str, int, str]]) -> Places:
    """Take a place in every (item id, limit, what) scope whose limit is set, side by side (one round trip), or none."""
    scopes = [s for s in scopes if s[1]]
    windows = services.rate_windows
    places = Places(windows)
    if not scopes:
        return places
    if windows is None:
        raise _unavailable()

    def take(scope: tuple[str, int, str]) -> Place | int | Exception:
        try:
            return windows.take(scope[0], scope[1])
        except Exception as exc:  # reported below, after every other place is given back
            return exc

    results = together(*(partial(take, scope) for scope in scopes))  # `take` returns failures, never raises
    places.taken = [r for r in results if isinstance(r, Place)]
    if len(places.taken) == len(scopes):
        return places
    places.give_back()
    failed = [r for r in results if isinstance(r, Exception)]
    if failed:
        logger.error("limit_store_failed", extra={"error": type(failed[0]).__name__})
        raise _unavailable()
    waits = [(r, scope) for r, scope in zip(results, scopes, strict=True) if isinstance(r, int)]
    wait, (_, limit, what) = max(waits, key=lambda w: w[0])
    _refused(what, limit)
    raise RateLimited(f"{RATE_MESSAGES[what]}: at most {limit} in 24 hours; retry later", retry_after=wait)


@contextmanager
def organization_place(services: Services, user_id: str) -> Iterator[None]:
    """MAX_ORGS_CREATED_PER_USER_PER_DAY: the `with` body creates one organization; if it raises, nothing was left
    created (orgapi.outcomes.creation deletes a half-made one, now or in the clean-up run) and the place is given back."""
    scope = (
        f"limit#orgs-created#user#{user_id}",
        services.settings.max_orgs_created_per_user_per_day,
        "orgs_created_per_user",
    )
    places = _take_all(services, [scope])
    try:
        yield
    except BaseException:
        places.give_back()
        raise


def _email_scopes(services: Services, organization_id: str, invitee: str) -> list[tuple[str, int, str]]:
    if not services.settings.invitation_link:
        return []
    settings = services.settings
    address = hashlib.sha256(invitee.strip().lower().encode()).hexdigest()  # the table never holds an address
    return [
        (
            f"limit#emails#organization#{organization_id}",
            settings.max_invitation_emails_per_org_per_day,
            "invitation_emails_per_org",
        ),
        (
            f"limit#emails#invitee#{address}",
            settings.max_invitation_emails_per_invitee_per_day,
            "invitation_emails_per_invitee",
        ),
    ]


def start_email_places(request: Request, services: Services, organization_id: str, invitee: str) -> None:
    """Take an e-mail's places now, beside the organization's lease and count; `email_places` below holds them (or
    ReadsAhead.settle gives them back). Only after the permission check: places are what other requests count."""
    scopes = _email_scopes(services, organization_id, invitee)
    request.ahead.start(EMAIL_PLACES, lambda: _take_all(services, scopes), undo=Places.give_back)


@contextmanager
def email_places(request: Request, services: Services, organization_id: str, invitee: str) -> Iterator[Places]:
    """An invitation e-mail's places, per organization and per invitee address (lower-cased as Logto compares them).
    Given back when the `with` body raises; the body gives them back itself (`Places.emailed`) when the e-mail was
    refused."""
    places = request.ahead.take(
        EMAIL_PLACES, lambda: _take_all(services, _email_scopes(services, organization_id, invitee))
    )
    try:
        yield places
    except BaseException:
        places.give_back()
        raise


@contextmanager
def pending_invitation_place(request: Request, services: Services, organization_id: str) -> Iterator[HeldLease | None]:
    """Run the `with` body (which creates one invitation) under the organization's lease, only if fewer than
    MAX_PENDING_INVITATIONS_PER_ORG invitations are pending (counted in Logto; 409 `limit_reached` otherwise). The body
    releases the lease (`HeldLease.release`) once the invitation is made."""
    limit = services.settings.max_pending_invitations_per_org
    if not limit:
        yield None
        return

    def pending() -> int:
        invitations = services.logto.list_invitations(organization_id, request.deadline)
        return pending_invitation_count(invitations, int(time.time() * 1000))

    # While this request waits for a busy lease, its e-mail's places (started beside) are given back: a request that
    # may yet be refused must not hold places others are counted against (found in review); taken again after.
    busy = partial(request.ahead.undo, EMAIL_PLACES)
    with request.lease(services.leases(), organization_id, pending, on_busy=busy) as held:
        if (held.count or 0) >= limit:
            _refused("pending_invitations_per_org", limit)
            raise LimitReached(f"This organization has reached its limit of {limit} pending invitations", limit)
        yield held


def _refused(what: str, limit: int) -> None:
    metrics.add_metric(name="LimitRefused", unit="Count", value=1)
    logger.info("limit_refused", extra={"limit_name": what, "limit": limit})
