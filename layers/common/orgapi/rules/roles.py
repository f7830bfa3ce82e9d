"""Organization roles as Logto defines them: each with its organization permissions and its API permissions for this
service's API resource (API_RESOURCE). A RoleCatalog is one read of Logto's role list (orgapi.rules.role_directory
reads it, cached or fresh)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from orgapi.base.errors import Unprocessable

USER_ROLE = "User"  # Logto's OrganizationRoleType; the other is MachineToMachine (for applications only)


def _names(items: Any) -> frozenset[str]:
    return frozenset(i["name"] for i in items or [] if isinstance(i, dict) and isinstance(i.get("name"), str))


@dataclass(frozen=True)
class OrganizationRole:
    """An organization role as Logto defines it, with the API permissions it grants."""

    id: str
    name: str
    description: str | None
    type: str
    permissions: frozenset[str]  # organization permissions (what organization tokens carry)
    api_permissions: frozenset[str]  # API permissions for API_RESOURCE only (what organization API tokens carry)

    @property
    def all_permissions(self) -> frozenset[str]:
        """Everything a holder of this role can use, in either namespace (what granting it hands over)."""
        return self.permissions | self.api_permissions

    @classmethod
    def from_logto(cls, raw: dict[str, Any], api_resource_id: str | None) -> OrganizationRole:
        # Logto's role list gives each resource scope as {id, name, resource: {id, name}}: a scope of another API
        # resource with the same name is a different permission and must not count.
        api_scopes = [
            s
            for s in raw.get("resourceScopes") or []
            if isinstance(s, dict)
            and api_resource_id is not None
            and (s.get("resource") or {}).get("id") == api_resource_id
        ]
        return cls(
            str(raw["id"]),
            str(raw["name"]),
            raw.get("description"),
            str(raw.get("type") or USER_ROLE),
            _names(raw.get("scopes")),
            _names(api_scopes),
        )

    def ref(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name}

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "permissions": sorted(self.permissions),
            "apiPermissions": sorted(self.api_permissions),
        }


@dataclass(frozen=True)
class RoleCatalog:
    """The tenant's organization roles as last read from Logto (RoleDirectory keeps it for a short while)."""

    roles: tuple[OrganizationRole, ...]

    @property
    def assignable(self) -> list[OrganizationRole]:
        """Roles people can be given (machine-to-machine roles are for applications)."""
        return [role for role in self.roles if role.type == USER_ROLE]

    def by_id(self, role_ids: Iterable[str]) -> list[OrganizationRole]:
        """These roles, in the role list's order (Logto answers role ids as a set; unknown ids are skipped)."""
        wanted = set(role_ids)
        return [role for role in self.roles if role.id in wanted]

    def named(self, name: str) -> OrganizationRole | None:
        return next((role for role in self.assignable if role.name == name), None)

    def resolve(self, names: Iterable[str]) -> list[OrganizationRole]:
        wanted = list(dict.fromkeys(names))
        by_name = {role.name: role for role in self.assignable}
        unknown = [name for name in wanted if name not in by_name]
        if unknown:
            raise Unprocessable(f"Unknown organization role: {unknown[0][:128]}", code="unknown_role")
        return [by_name[name] for name in wanted]
