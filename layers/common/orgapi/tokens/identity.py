"""Who is calling, as the authorizer hands it to the operations: the one owner of the authorizer context's shape.
The authorizer writes it (`authorizer_context`); each operation reads it back (`Caller.from_authorizer_context`), and
API Gateway passes every value on as a string in between."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orgapi.base.errors import Unauthorized
from orgapi.contract.kinds import TokenKind

if TYPE_CHECKING:  # the operations read the context without loading the verifier (python-jose) at cold start
    from orgapi.tokens.verify import VerifiedToken


def authorizer_context(token: VerifiedToken) -> dict[str, str | int]:
    """What the authorizer passes on with its policy: flat scalars, as API Gateway requires."""
    return {
        "sub": token.subject,
        "clientId": token.client_id,
        "organizationId": token.organization_id or "",
        "scopes": " ".join(sorted(token.scopes)),
        "tokenKind": token.kind.value,
        "exp": int(token.expires_at),
    }


@dataclass(frozen=True)
class Caller:
    """Who calls, as the authorizer verified it: subject, client, token kind, organization, scopes and expiry."""

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
