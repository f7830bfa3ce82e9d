"""Who is calling: read from the authorizer's context (API Gateway passes every value on as a string)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orgapi.base.errors import Unauthorized
from orgapi.contract.routes import TokenKind


@dataclass(frozen=True)
class Caller:
    subject: str
    client_id: str
    kind: TokenKind
    organization_id: str | None
    scopes: frozenset[str]
    expires_at: float

    @property
    def is_user(self) -> bool:
        """Logto's own rule: a token whose subject is its client is a machine (M2M) token, not a person."""
        return self.subject != self.client_id

    @classmethod
    def from_authorizer_context(cls, context: dict[str, Any] | None) -> Caller:
        context = context or {}
        try:
            kind = TokenKind(str(context.get("tokenKind")))
            subject = str(context["sub"])
            expires_at = float(context.get("exp", 0))
        except (KeyError, ValueError, TypeError):
            raise Unauthorized() from None  # no authorizer in front of us: refuse rather than guess
        if not subject:
            raise Unauthorized()
        return cls(
            subject=subject,
            client_id=str(context.get("clientId") or ""),
            kind=kind,
            organization_id=str(context.get("organizationId") or "") or None,
            scopes=frozenset(str(context.get("scopes") or "").split()),
            expires_at=expires_at,
        )
