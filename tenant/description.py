"""The tenant description: description.yaml checked against a schema, then resolved into the names this deployment
uses (API_RESOURCE, PERMISSION_OVERRIDES, CREATOR_ROLE), through the service's own configuration and route table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from orgapi.base.config import Settings
from orgapi.contract.routes import ROUTES, required_permission

DESCRIPTION = Path(__file__).resolve().parent / "description.yaml"
CREATE_PERMISSION = "org:create"  # the permission of POST /organizations (routes.py), by its default name
_NAME = r"^\S{1,128}$"  # Logto: no whitespace in a scope name (resource.scope.ts scope.name_with_space), 128 chars


class DescriptionError(ValueError):
    """The description file does not parse or breaks a rule; the message is one line naming the place."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _ApiResource(_Strict):
    name: str = Field(min_length=1, max_length=128)
    permissions: dict[str, str] = Field(min_length=1)

    @field_validator("permissions")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [name for name in value if not name or len(name) > 128 or any(c.isspace() for c in name)]
        if bad:
            raise ValueError(f"permission names need 1-128 characters and no spaces: {bad[0]!r}")
        return value


class _OrganizationRole(_Strict):
    description: str = Field(default="", max_length=128)
    type: Literal["User", "MachineToMachine"] = "User"
    creator: bool = False
    permissions: Literal["all"] | list[str]


class _GlobalRole(_Strict):
    description: str = Field(min_length=1, max_length=128)  # Logto requires a role description
    permissions: list[str]


class _Description(_Strict):
    apiResource: _ApiResource  # the file's keys follow Logto's camelCase
    organizationRoles: dict[str, _OrganizationRole] = Field(min_length=1)
    globalRoles: dict[str, _GlobalRole] = Field(default_factory=dict)


@dataclass(frozen=True)
class RoleSpec:
    description: str
    type: str
    organization_permissions: frozenset[str]  # organization permissions (deployment names)
    api_permissions: frozenset[str]  # permissions of API_RESOURCE (deployment names)


@dataclass(frozen=True)
class Desired:
    """What the tenant must hold, in this deployment's names."""

    api_name: str
    indicator: str
    permissions: Mapping[str, str]  # name -> description, in both namespaces
    organization_roles: Mapping[str, RoleSpec]
    global_roles: Mapping[str, RoleSpec]  # organization_permissions empty
    creator_role: str
    create_permission: str
    # deployment name -> default name, so messages can say both when they differ
    defaults: Mapping[str, str] = field(default_factory=dict)

    @property
    def names(self) -> dict[str, str]:
        """Default permission name -> this deployment's name."""
        return {default: name for name, default in self.defaults.items()}


def _one_line(error: ValidationError, source: str) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top)"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{source}: {where}: {first['msg']}{more}"


def load(path: Path = DESCRIPTION) -> _Description:
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise DescriptionError(f"{path}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise DescriptionError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    try:
        return _Description.model_validate(raw)
    except ValidationError as exc:
        raise DescriptionError(_one_line(exc, str(path))) from None


def resolve(description: _Description, settings: Settings, source: str = "the description") -> Desired:
    """The description in this deployment's names; every rule that spans entries is checked here."""
    overrides = settings.permission_overrides
    defined = description.apiResource.permissions
    # The names the service requires, computed by the route table itself (required_permission), so they match.
    required = {route.permission: required_permission(route, overrides) for route in ROUTES if route.permission}
    missing = sorted(set(required) - set(defined))
    if missing:
        raise DescriptionError(f"{source}: apiResource.permissions: {missing[0]} is required by the service's routes")
    if CREATE_PERMISSION not in defined:
        raise DescriptionError(f"{source}: apiResource.permissions: {CREATE_PERMISSION} is required")
    # Permissions no route names yet (e.g. audit:read before its route lands) follow the same renaming rule.
    names = {default: required.get(default) or overrides.get(default, default) for default in defined}
    if len(set(names.values())) != len(names):
        raise DescriptionError(f"{source}: PERMISSION_OVERRIDES gives two permissions the same name")
    create = names[CREATE_PERMISSION]

    def rename(where: str, listed: Literal["all"] | list[str], allowed: Mapping[str, str]) -> frozenset[str]:
        chosen = list(allowed) if listed == "all" else listed
        unknown = [p for p in chosen if p not in allowed]
        if unknown:
            raise DescriptionError(f"{source}: {where}: {unknown[0]!r} is not a permission of apiResource")
        return frozenset(names[p] for p in chosen)

    creators = [name for name, role in description.organizationRoles.items() if role.creator]
    if len(creators) != 1:
        raise DescriptionError(f"{source}: organizationRoles: exactly one role needs `creator: true`")
    organization_roles: dict[str, RoleSpec] = {}
    for name, role in description.organizationRoles.items():
        tenant_name = settings.creator_role if role.creator else name
        if tenant_name in organization_roles or (not role.creator and name == settings.creator_role):
            raise DescriptionError(f"{source}: organizationRoles.{name}: CREATOR_ROLE {tenant_name!r} is taken")
        if role.creator and role.type != "User":
            raise DescriptionError(f"{source}: organizationRoles.{name}: the creator role must be of type User")
        granted = rename(f"organizationRoles.{name}.permissions", role.permissions, defined)
        organization_roles[tenant_name] = RoleSpec(role.description, role.type, granted, granted - {create})
    global_roles = {
        name: RoleSpec(
            role.description, "User", frozenset(), rename(f"globalRoles.{name}.permissions", role.permissions, defined)
        )
        for name, role in description.globalRoles.items()
    }
    return Desired(
        api_name=description.apiResource.name,
        indicator=settings.api_resource,
        permissions={names[p]: text for p, text in defined.items()},
        organization_roles=organization_roles,
        global_roles=global_roles,
        creator_role=settings.creator_role,
        create_permission=create,
        defaults={v: k for k, v in names.items()},
    )
