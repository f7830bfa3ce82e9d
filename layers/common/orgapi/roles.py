"""Organization roles: resolved by name from Logto's role list (cached briefly), and the no-escalation rule."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from orgapi.caller import Caller
from orgapi.deadline import Deadline
from orgapi.errors import Forbidden, Unprocessable
from orgapi.management import ManagementApi
from orgapi.routes import TokenKind


@dataclass(frozen=True)
class OrganizationRole:
    id: str
    name: str
    description: str | None
    permissions: frozenset[str]  # organization permissions (what organization tokens carry)
    api_permissions: frozenset[str]  # API resource permissions (what organization API tokens carry)

    @classmethod
    def from_logto(cls, raw: dict[str, Any]) -> OrganizationRole:
        def names(items: Any) -> frozenset[str]:
            return frozenset(i["name"] for i in items or [] if isinstance(i, dict) and isinstance(i.get("name"), str))

        return cls(
            str(raw["id"]),
            str(raw["name"]),
            raw.get("description"),
            names(raw.get("scopes")),
            names(raw.get("resourceScopes")),
        )

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "permissions": sorted(self.permissions),
            "apiPermissions": sorted(self.api_permissions),
        }


class RoleDirectory:
    def __init__(self, api: ManagementApi, ttl_seconds: float, clock: Callable[[], float] = time.monotonic):
        self._api, self._ttl, self._clock = api, ttl_seconds, clock
        self._roles: list[OrganizationRole] | None = None
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    def all(self, deadline: Deadline, *, fresh: bool = False) -> list[OrganizationRole]:
        """User-assignable organization roles (machine-to-machine roles cannot be given to people)."""
        with self._lock:
            if fresh or self._roles is None or self._clock() - self._fetched_at >= self._ttl:
                raw = self._api.organization_roles(deadline)
                self._roles = [OrganizationRole.from_logto(r) for r in raw if r.get("type", "User") == "User"]
                self._fetched_at = self._clock()
            return self._roles

    def _lookup(self, names: list[str], deadline: Deadline) -> dict[str, OrganizationRole]:
        by_name = {role.name: role for role in self.all(deadline)}
        if any(name not in by_name for name in names) and self._clock() - self._fetched_at > 1:
            # A role created in Logto since the list was cached: look once more before calling the name unknown.
            by_name = {role.name: role for role in self.all(deadline, fresh=True)}
        return by_name

    def resolve(self, names: Iterable[str], deadline: Deadline) -> list[OrganizationRole]:
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return []
        by_name = self._lookup(wanted, deadline)
        unknown = [name for name in wanted if name not in by_name]
        if unknown:
            raise Unprocessable(f"Unknown organization role: {unknown[0][:128]}", code="unknown_role")
        return [by_name[name] for name in wanted]

    def by_name(self, name: str, deadline: Deadline) -> OrganizationRole | None:
        return self._lookup([name], deadline).get(name)


def ensure_no_escalation(caller: Caller, roles: Iterable[OrganizationRole]) -> None:
    """A caller may only grant roles whose permissions its own token holds (in the namespace its token carries)."""
    for role in roles:
        granted = role.permissions if caller.kind is TokenKind.ORGANIZATION else role.api_permissions
        if not granted <= caller.scopes:
            raise Forbidden(
                f"Granting role {role.name!r} needs permissions your token does not hold", code="privilege_escalation"
            )
