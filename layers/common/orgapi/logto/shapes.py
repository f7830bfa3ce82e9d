"""What a successful Management API answer must look like for the fields our decisions read.

A 2xx body that is not this shape is not what Logto sends (a proxy's page, a truncated or mangled body, a list where
an object belongs): it is an error, never "nothing". An empty role or permission list read from a mangled answer would
make a rank or escalation check vacuous. Only the fields we read are checked; Logto's other fields pass through.
Shapes follow Logto 1.42's answers (packages/core/src/routes/organization-role/, organization/, role.scope.ts,
resource.ts, organization-invitation/, admin-user/).
"""

from __future__ import annotations

import types
from functools import cache
from typing import Any, Union, get_args, get_origin, get_type_hints

# Checked by hand, not with pydantic-core: these are a few type checks on flat JSON, and importing pydantic-core (its
# `core_schema` module) cost every function ≈ 15 ms of its cold start (make bench), read-only functions included, which
# never load pydantic. tests/unit/test_logto_answers.py holds every reader to Logto's shapes, both ways.


class _Shape:
    """Fields a decision reads, as annotations: str, `str | None = None` (may be absent), a shape, a list of one.
    Logto's other fields pass through unchecked."""


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


@cache
def _fields(shape: type) -> tuple[tuple[str, Any, bool], ...]:
    """(name, annotation, required) of a shape's fields: a field with a default may be absent."""
    return tuple((name, hint, not hasattr(shape, name)) for name, hint in get_type_hints(shape).items())


def _conforms(kind: Any, value: Any) -> bool:
    if kind is str:
        return type(value) is str
    if get_origin(kind) is list:
        (item,) = get_args(kind)
        return type(value) is list and all(_conforms(item, each) for each in value)
    if get_origin(kind) in (Union, types.UnionType):
        (inner,) = [arg for arg in get_args(kind) if arg is not type(None)]
        return value is None or _conforms(inner, value)
    if type(value) is not dict:
        return False
    return all(
        _conforms(hint, value[name]) if name in value else not required for name, hint, required in _fields(kind)
    )


def check(shape: Any, body: Any) -> Any:
    """`body` unchanged when it has `shape` (a shape or `list[shape]`), else Malformed."""
    if not _conforms(shape, body):
        raise Malformed()
    return body
