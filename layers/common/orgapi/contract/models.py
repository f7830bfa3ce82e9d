"""Request bodies and query strings. Unknown fields are refused (no mass assignment into Logto), sizes are bounded."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from orgapi.contract.views import CREATION_MARKER

# Logto ids are [0-9a-z]{12}; allow a little more, never path separators or wildcards.
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
RoleName = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
# No control characters (NUL cannot even be stored by Logto's PostgreSQL; the others are display tricks).
_VISIBLE = r"[^\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]"  # no control or bidi-override characters
Name = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=128, pattern=rf"^{_VISIBLE}*[^\s\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]{_VISIBLE}*$"
    ),
]
Description = Annotated[str, StringConstraints(max_length=256, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")]
Email = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
MAX_CUSTOM_DATA_BYTES = 8192


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _bounded_custom_data(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None and len(json.dumps(value, separators=(",", ":"))) > MAX_CUSTOM_DATA_BYTES:
        raise ValueError(f"customData must serialize to at most {MAX_CUSTOM_DATA_BYTES} bytes")
    if value is not None and CREATION_MARKER in value:
        raise ValueError(f"customData.{CREATION_MARKER} is reserved")  # it tells the clean-up run which is which
    return value


class CreateOrganization(Body):
    name: Name
    description: Description | None = None
    customData: dict[str, Any] | None = None

    _custom_data = field_validator("customData")(_bounded_custom_data)


class UpdateOrganization(Body):
    name: Name | None = None
    description: Description | None = None
    customData: dict[str, Any] | None = None

    _custom_data = field_validator("customData")(_bounded_custom_data)

    @model_validator(mode="after")
    def _something_to_change(self) -> UpdateOrganization:
        if not self.model_fields_set:
            raise ValueError("give at least one of name, description, customData")
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name cannot be null")
        return self


def _unique(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("must not contain duplicates")
    return values


class AddMembers(Body):
    userIds: Annotated[list[Identifier], Field(min_length=1, max_length=100)]
    roleNames: Annotated[list[RoleName], Field(max_length=20)] = []

    _unique_users = field_validator("userIds")(_unique)
    _unique_roles = field_validator("roleNames")(_unique)


class ReplaceMemberRoles(Body):
    roleNames: Annotated[list[RoleName], Field(max_length=20)]

    _unique_roles = field_validator("roleNames")(_unique)


class CreateInvitation(Body):
    invitee: Email
    roleNames: Annotated[list[RoleName], Field(max_length=20)] = []
    expiresInDays: Annotated[int, Field(ge=1, le=30)] = 7

    _unique_roles = field_validator("roleNames")(_unique)


class MembersQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")  # query strings arrive as text: ints are parsed, not strict

    page: Annotated[int, Field(ge=1, le=100000)] = 1
    page_size: Annotated[int, Field(ge=1, le=100)] = 20
    q: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: Annotated[int, Field(ge=1, le=100)] = 20
    cursor: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = None
    action: Annotated[str, StringConstraints(pattern=r"^[a-z]+\.[a-z_]+$", max_length=64)] | None = None
    actorId: Identifier | None = None


class NoQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
