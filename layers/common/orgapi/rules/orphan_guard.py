"""No organization without a member holding CREATOR_ROLE, even when two changes race.

Every change that could remove a holder (removing a member, replacing roles without CREATOR_ROLE, leaving) runs inside
`guarded_change`: it holds the organization's lease (lease.py), then reads the holders from Logto, and only then acts.
Two such changes side by side therefore run one after the other, and the second sees what the first did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

from orgapi.base.config import Settings
from orgapi.base.deadline import Deadline
from orgapi.base.errors import Conflict, UpstreamError
from orgapi.base.observability import logger
from orgapi.base.side_by_side import together
from orgapi.logto.management import ManagementApi
from orgapi.rules.roles import RoleCatalog


class Services(Protocol):
    """What the guard uses of orgapi.operations.services.Services (which sits above the rules)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def logto(self) -> ManagementApi: ...


PAGE = 100


@contextmanager
def guarded_change(
    services: Services,
    organization_id: str,
    lease: AbstractContextManager[Any],
    user_id: str,
    catalog: RoleCatalog,
    deadline: Deadline,
    *,
    orphan_check: bool = True,
    beside: Callable[[], Any] | None = None,
) -> Iterator[Any]:
    """Run the `with` body under the organization's `lease` (entered here), and (orphan_check) only if the user is not
    the organization's last CREATOR_ROLE holder (else 409). `beside` is a read the body needs, made under the lease
    too, side by side with the holders' read; the `with` gets its result (its failure comes after the orphan guard's)."""
    with lease:
        guard = (
            (lambda: ensure_not_last_creator(services, organization_id, user_id, catalog, deadline))
            if orphan_check
            else None
        )
        reads = [read for read in (guard, beside) if read is not None]
        results = together(*reads)
        yield results[-1] if beside is not None else None


def ensure_not_last_creator(
    services: Services, organization_id: str, user_id: str, catalog: RoleCatalog, deadline: Deadline
) -> None:
    """Reads the holders from the member list (filtered by role; each member's roles are still checked in case the
    filter was not applied) and stops as soon as another holder is found."""
    name = services.settings.creator_role
    creator = catalog.named(name)
    if creator is None:
        logger.error("creator_role_missing", extra={"role": name})
        raise UpstreamError("The creator role is not configured in the identity provider", code="creator_role_missing")
    user_holds_role, page = False, 1
    while True:
        members, _ = services.logto.list_members(
            organization_id, deadline, page=page, page_size=PAGE, organizationRoleId=creator.id
        )
        for member in members:
            roles = member.get("organizationRoles") if isinstance(member, dict) else None
            if any(isinstance(r, dict) and r.get("id") == creator.id for r in roles or []):
                if member.get("id") != user_id:
                    return
                user_holds_role = True
        if len(members) < PAGE:
            break
        page += 1
    if user_holds_role:
        raise Conflict(f"The organization would have no member with the {name} role", code="last_creator")
