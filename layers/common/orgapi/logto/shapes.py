"""What a successful Management API answer must look like for the fields our decisions read.

A 2xx body that is not this shape is not what Logto sends (a proxy's page, a truncated or mangled body, a list where
an object belongs): it is an error, never "nothing". An empty role or permission list read from a mangled answer would
make a rank or escalation check vacuous. Only the fields we read are checked; Logto's other fields pass through.
Shapes follow Logto 1.42's answers (packages/core/src/routes/organization-role/, organization/, role.scope.ts,
resource.ts, organization-invitation/, admin-user/).
"""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin, get_type_hints

# pydantic-core's validators built from these classes' annotations, not pydantic's models: every function reads
# Logto, and pydantic's model layer would load at every cold start (≈50 ms) for the few flat fields checked here.
from pydantic_core import SchemaValidator, ValidationError, core_schema


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


_VALIDATORS: dict[Any, SchemaValidator] = {}


def _schema(kind: Any) -> core_schema.CoreSchema:
    if kind is str:
        return core_schema.str_schema(strict=True)
    if get_origin(kind) is list:
        return core_schema.list_schema(_schema(get_args(kind)[0]), strict=True)
    if get_origin(kind) in (Union, types.UnionType):
        (inner,) = [arg for arg in get_args(kind) if arg is not type(None)]
        return core_schema.nullable_schema(_schema(inner))
    fields = {
        name: core_schema.typed_dict_field(_schema(hint), required=not hasattr(kind, name))
        for name, hint in get_type_hints(kind).items()
    }
    return core_schema.typed_dict_schema(fields, extra_behavior="allow", strict=True)


def check(shape: Any, body: Any) -> Any:
    """`body` unchanged when it has `shape` (a shape or `list[shape]`), else Malformed."""
    validator = _VALIDATORS.get(shape)
    if validator is None:
        validator = _VALIDATORS[shape] = SchemaValidator(_schema(shape))
    try:
        validator.validate_python(body)
    except ValidationError:
        raise Malformed() from None
    return body
