"""What an operation is given and what it answers, independent of how the request arrived (API Gateway's event
is turned into a Request by orgapi.gateway.handler, above this package).

A Request carries the route, the verified caller, plain path ids, the query, headers, the raw body (parsed and
validated on first use against the route's models) and the deadline; `access` is the caller's live Access.

An operation marked `@starts_ahead(start)` has `start` run before the live permission check: what it needs whatever
that check decides (the invitation it names, the organization's lease, a rate limit's places) then travels beside the
check's reads instead of after them (issues 21, 22). What is started and never taken is undone when the request ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from orgapi.base.deadline import Deadline
from orgapi.base.errors import BadRequest
from orgapi.base.jsonbody import parse_object
from orgapi.base.side_by_side import ReadsAhead
from orgapi.contract.routes import Route
from orgapi.operations.services import Services
from orgapi.rules.access import Access
from orgapi.rules.lease import Lease, LeaseStore
from orgapi.tokens.identity import Caller

if TYPE_CHECKING:
    from pydantic import BaseModel

Model = TypeVar("Model", bound="BaseModel")


@dataclass
class Request:
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

    def start_lease(self, leases: LeaseStore, organization_id: str) -> None:
        """Take the organization's lease now, beside other reads; `lease` below holds it (or settle releases it)."""
        self.ahead.start(
            f"lease#{organization_id}", lambda: leases.acquire(organization_id, self.deadline), undo=Lease.release
        )

    @contextmanager
    def lease(self, leases: LeaseStore, organization_id: str) -> Iterator[Lease]:
        """Hold the organization's lease for the `with` body: the one started ahead, else a new one. It is released
        beside what the request does next (its audit entry), and always before the answer (ReadsAhead.settle)."""
        lease = self.ahead.take(f"lease#{organization_id}", lambda: leases.acquire(organization_id, self.deadline))
        try:
            yield lease
        finally:
            self.ahead.later(lease.release)


@dataclass
class Result:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Operation = Callable[[Request, Services], Result]
Ahead = Callable[[Request, Services], None]
STARTED_AHEAD: dict[Operation, Ahead] = {}


def starts_ahead(start: Ahead) -> Callable[[Operation], Operation]:
    """Mark an operation with what its handler starts before the live permission check (see the module docstring)."""

    def mark(operation: Operation) -> Operation:
        STARTED_AHEAD[operation] = start
        return operation

    return mark


def invitation_ahead(request: Request, services: Services) -> None:
    """The invitation a route names: read whatever the permission check decides (it needs no permission to start)."""
    invitation_id = request.path["invitationId"]
    request.ahead.start("invitation", lambda: services.logto.get_invitation(invitation_id, request.deadline))


def lease_ahead(request: Request, services: Services) -> None:
    """The path's organization's lease, for operations that always change members under it."""
    request.start_lease(services.leases(), request.path["organizationId"])


def _validated(model: type[Model], data: Any) -> Model:
    from pydantic import ValidationError  # loaded with the models, only by operations that parse input

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # Field paths and reasons only: the rejected values are never echoed back or logged.
        problems = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5]]
        raise BadRequest("Invalid request: " + "; ".join(problems), code="invalid_request") from None
