"""What an operation is given and what it answers, independent of how the request arrived (API Gateway's event
is turned into a Request by orgapi.gateway.handler, above this package).

A Request carries the route, the verified caller, plain path ids, the query, headers, the raw body (parsed and
validated on first use against the route's models) and the deadline; `access` is the caller's live Access.

The invitation a route names is read before the live permission check (`start_invitation_read`, by the handler), so
it travels beside the check's reads (issue 22). Only reads start there: the organization's lease and a rate limit's
places, which other requests wait for or count, are taken after the check (found in review: a caller refused by the
check must never hold them up for others).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from orgapi.base.deadline import Deadline
from orgapi.base.errors import BadRequest
from orgapi.base.jsonbody import parse_object
from orgapi.base.side_by_side import ReadsAhead, together
from orgapi.contract.routes import Route
from orgapi.logto.http import LogtoError, NoAnswer
from orgapi.logto.management import ManagementApi
from orgapi.operations.services import Services
from orgapi.rules.access import Access
from orgapi.rules.lease import Lease, LeaseStore
from orgapi.tokens.identity import Caller

if TYPE_CHECKING:
    from pydantic import BaseModel

Model = TypeVar("Model", bound="BaseModel")


@dataclass
class Request:
    """One API request as an operation sees it: route, caller, path, body, and what it changed."""

    route: Route
    caller: Caller
    path: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    raw_body: str | None
    deadline: Deadline
    lambda_context: Any = None

    access: Access = None  # type: ignore[assignment]  # set by _serve before any operation runs
    audit_targets: dict[str, Any] = field(default_factory=dict)  # what the change touched, for the audit line
    changes: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # see `changed`
    ahead: ReadsAhead = field(default_factory=ReadsAhead)  # reads started beside the live permission check

    _parsed: dict[type, Any] = field(default_factory=dict)

    def body(self, model: type[Model]) -> Model:
        if model not in self._parsed:
            self._parsed[model] = _validated(model, parse_object(self.raw_body, self.header("Content-Type")))
        return self._parsed[model]

    def query_as(self, model: type[Model]) -> Model:
        if model not in self._parsed:
            self._parsed[model] = _validated(model, self.query)
        return self._parsed[model]

    def validate_input(self) -> None:
        """The route's declared body and query models, checked before anything calls Logto."""
        if self.route.body or self.route.query:
            from orgapi.contract import models

            if self.route.body:
                self.body(getattr(models, self.route.body))
            if self.route.query:
                self.query_as(getattr(models, self.route.query))

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def start_invitation_read(self, logto: ManagementApi) -> None:
        """Read the invitation the path names now, whatever the permission check decides (it needs no permission)."""
        self.ahead.start("invitation", partial(logto.get_invitation, self.path["invitationId"], self.deadline))

    def invitation(self, logto: ManagementApi) -> Any:
        """The invitation the path names: the read started before the permission check the first time, a fresh read
        after that (a second look after a lost answer)."""
        return self.ahead.take("invitation", partial(logto.get_invitation, self.path["invitationId"], self.deadline))

    def changed(self, action: str, organization_id: str, **targets: Any) -> None:
        """Note a change that happened in Logto (the outcome rules decided so): the handler writes its audit entry
        and event (orgapi.outcomes.audit) when the operation ends, however it ends. A change that did not happen, or
        changed nothing, is never noted."""
        self.changes.append((action, organization_id, targets))

    @contextmanager
    def lease(
        self,
        leases: LeaseStore,
        organization_id: str,
        count: Callable[[], int] | None = None,
        on_busy: Callable[[], None] | None = None,
    ) -> Iterator[HeldLease]:
        """Hold the organization's lease for the `with` body, taken after the permission check (a caller who may not
        change anything never holds it up for others). `count` (a limit's count, read from Logto) is read side by
        side with taking it, and read again under it only when a change may have landed since the first read began:
        the lease was busy, or released less than CLOCK_MARGIN_SECONDS before. `on_busy`: called once if the lease
        is held by another request, before waiting for it.

        It is released at the end of the body at the latest (`HeldLease.release` sooner), beside what the request does
        next, always before the answer; but when the body ends with a Logto call that may still land later (no answer
        came, or a gateway's 502/504), it is kept until it runs out (found in review: a member add that timed out
        landed seconds after its lease was released, past another request's count)."""
        started = time.time()
        acquire = partial(leases.acquire, organization_id, self.deadline, on_busy)
        lease, counted = (acquire(), None) if count is None else _taken_beside(acquire, count)
        held = HeldLease(lease, self.ahead)
        try:
            if count is not None and lease.quiet_since > started - CLOCK_MARGIN_SECONDS:
                counted = count()  # under the lease now: nothing can change it
            held.count = counted
            yield held
        except (LogtoError, NoAnswer) as failure:
            if failure.may_land_later:
                held.keep()
            raise
        finally:
            held.release()


# How far apart two functions' clocks may be: Lambda's follow the Amazon Time Sync Service (errors well under a
# millisecond); a change released within this margin of a count read counts as possibly missed by it.
CLOCK_MARGIN_SECONDS = 0.1


@dataclass
class HeldLease:
    """An organization's lease held by this request, with the limit's count read beside it."""

    lease: Lease
    ahead: ReadsAhead
    count: int | None = None
    released: bool = False

    def release(self) -> None:
        """Release it now (beside whatever follows): the change it guarded is made."""
        if not self.released:
            self.released = True
            self.ahead.later(self.lease.release)

    def keep(self) -> None:
        """Let it run out instead (LeaseStore.keep): what it guarded may still change in Logto."""
        if not self.released:
            self.released = True
            self.lease.keep()


def _taken_beside(acquire: Callable[[], Lease], count: Callable[[], int]) -> tuple[Lease, int]:
    """Take the lease and read the count side by side; when one of them fails, a lease taken is released."""

    def caught(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception as exc:  # raised below, once the lease is given back
            return exc

    lease, counted = together(lambda: caught(acquire), lambda: caught(count))
    if isinstance(counted, Exception):
        if isinstance(lease, Lease):
            lease.release()
        raise counted
    if isinstance(lease, Exception):
        raise lease
    return lease, counted


@dataclass
class Result:
    """What an operation answers: status, body and headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Operation = Callable[[Request, Services], Result]


def _validated(model: type[Model], data: Any) -> Model:
    from pydantic import ValidationError  # loaded with the models, only by operations that parse input

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # Field paths and reasons only: the rejected values are never echoed back or logged.
        problems = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5]]
        raise BadRequest("Invalid request: " + "; ".join(problems), code="invalid_request") from None
