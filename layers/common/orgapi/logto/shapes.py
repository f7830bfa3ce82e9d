"""What a successful Management API answer must look like for the fields our decisions read.

A 2xx body that is not this shape is not what Logto sends (a proxy's page, a truncated or mangled body, a list where
an object belongs): it is an error, never "nothing". An empty role or permission list read from a mangled answer would
make a rank or escalation check vacuous. Only the fields we read are checked; Logto's other fields pass through.
Shapes follow Logto 1.42's answers (packages/core/src/routes/organization-role/, organization/, role.scope.ts,
resource.ts, organization-invitation/, admin-user/).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class Identified(_Shape):
    id: str


class Organization(_Shape):
    id: str
    name: str | None = None  # always there in Logto; only the id is needed to act on it


class Named(Identified):
    name: str


class ResourceRef(_Shape):
    id: str
    indicator: str | None = None


class ResourceScope(Named):
    """A permission of an API resource, with its resource attached (organization roles' resourceScopes, and a global
    role's scopes: routes/role.scope.ts)."""

    resource: ResourceRef


class OrganizationRole(_Shape):
    id: str
    name: str
    # Logto's role list always carries both (getWithScopes): a missing list would read as "no permissions"
    scopes: list[Named]
    resourceScopes: list[ResourceScope]


class Invitation(_Shape):
    id: str
    organizationId: str
    invitee: str
    status: str


class UserOrganization(Organization):
    organizationRoles: list[Identified]


class Member(_Shape):
    id: str
    organizationRoles: list[Identified]


class Malformed(Exception):
    """A 2xx body that is not the shape this call expects (the body itself is never kept)."""


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def check(shape: Any, body: Any) -> Any:
    """`body` unchanged when it has `shape` (a model or `list[model]`), else Malformed."""
    adapter = _ADAPTERS.get(shape)
    if adapter is None:
        adapter = _ADAPTERS[shape] = TypeAdapter(shape)
    try:
        adapter.validate_python(body)
    except ValidationError:
        raise Malformed() from None
    return body
