"""What a successful Management API answer must look like for the fields our decisions read.

A 2xx body that is not this shape is not what Logto sends (a proxy's page, a truncated or mangled body, a list where
an object belongs): it is an error, never "nothing". An empty role or permission list read from a mangled answer would
make a rank or escalation check vacuous. Only the fields we read are checked; Logto's other fields pass through.
Shapes follow Logto 1.42's answers (packages/core/src/routes/organization-role/, organization/, role.scope.ts,
resource.ts, organization-invitation/, admin-user/).
"""

from __future__ import annotations

import types
from collections.abc import Callable
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
def _checker(kind: Any) -> Callable[[Any], bool]:
    """A function telling whether a JSON value has `kind`, made once per kind (a role list can hold thousands of
    permissions: nothing is looked up again per value)."""
    if kind is str:
        return lambda value: type(value) is str
    if get_origin(kind) is list:
        each = _checker(get_args(kind)[0])
        return lambda value: type(value) is list and all(map(each, value))
    if get_origin(kind) in (Union, types.UnionType):
        (inner,) = [arg for arg in get_args(kind) if arg is not type(None)]
        present = _checker(inner)
        return lambda value: value is None or present(value)
    # A shape: a field with a default may be absent; Logto's other fields pass.
    fields = tuple((name, _checker(hint), not hasattr(kind, name)) for name, hint in get_type_hints(kind).items())

    def conforms(value: Any) -> bool:
        if type(value) is not dict:
            return False
        for name, check, required in fields:
            if name in value:
                if not check(value[name]):
                    return False
            elif required:
                return False
        return True

    return conforms


def check(shape: Any, body: Any) -> Any:
    """`body` unchanged when it has `shape` (a shape or `list[shape]`), else Malformed."""
    if not _checker(shape)(body):
        raise Malformed()
    return body
