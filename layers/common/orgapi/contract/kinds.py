"""The three kinds of Logto token the service accepts, told apart by their audience (CONTRACT.md, "Token kinds").

Its own module so the verifier, which only decides the kind, does not depend on which routes exist."""

from __future__ import annotations

from enum import StrEnum


class TokenKind(StrEnum):
    ORGANIZATION = "organization"  # aud = urn:logto:organization:<orgId>
    ORGANIZATION_API = "organization_api"  # aud = API_RESOURCE + organization_id claim
    GLOBAL_API = "global_api"  # aud = API_RESOURCE, no organization_id
