"""Verification of Logto-issued access tokens.

python-jose checks the signature. Everything around it is ours, because python-jose alone accepts tokens it should not
(notes/security.md §0): a missing or unknown `kid`, `crit`, non-canonical base64, string-typed or missing time claims,
`iat` in the future, a missing `aud`. Each failure raises TokenRejected with a stable reason code for logs and metrics.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orgapi.base.config import Settings
from orgapi.contract.kinds import TokenKind
from orgapi.tokens.jwks import ALLOWED_ALGORITHMS, JwksCache

ORGANIZATION_URN_PREFIX = "urn:logto:organization:"
ORGANIZATION_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")  # .fullmatch(): `$` would accept a final "\n"
MAX_TOKEN_LENGTH = 4096  # Logto access tokens are well under 2 KB
MAX_HEADER_SEGMENT = 1024
MAX_LIFETIME_SECONDS = 86400  # Logto's longest configurable access-token TTL is far below this
# RFC 9068 names at+jwt; "JWT" and no typ are what many issuers and test doubles write. Other types (ID tokens via
# `typ` tricks, logout/secevent tokens) are refused.
ALLOWED_TYPES = frozenset({None, "at+jwt", "application/at+jwt", "jwt"})
_BEARER = re.compile(r"^Bearer ([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$")


class TokenRejected(Exception):
    """The token is not acceptable; `reason` is a stable code (never contains the token)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class VerifiedToken:
    """A Logto access token whose signature, issuer, audience and lifetime were checked."""

    kind: TokenKind
    subject: str
    client_id: str
    organization_id: str | None
    scopes: frozenset[str]
    expires_at: float


# In canonical unpadded base64url the bits a final partial character does not use are zero; only these characters
# can end a segment of length 4n+2 or 4n+3.
_CANONICAL_LAST = {2: frozenset("AQgw"), 3: frozenset("AEIMQUYcgkosw048")}


def _b64url_decode(segment: str) -> bytes:
    """Strict base64url (the alphabet is already checked by the Bearer pattern): no padding, length 4n+1 refused, and
    unused trailing bits must be zero, so each token has exactly one spelling (no malleable variants)."""
    remainder = len(segment) % 4
    if remainder == 1 or (remainder and segment[-1] not in _CANONICAL_LAST[remainder]):
        raise TokenRejected("malformed")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise TokenRejected("malformed") from None


def _no_duplicate_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise TokenRejected("malformed")  # {"alg":"none",...,"alg":"ES384"}: parsers disagree on which wins
    return result


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_members)
    except TokenRejected:
        raise
    except Exception:  # bad UTF-8, bad JSON, absurd nesting (RecursionError): all just malformed
        raise TokenRejected("malformed") from None
    if not isinstance(value, dict):
        raise TokenRejected("malformed")
    return value


def _numeric_date(claims: dict[str, Any], name: str, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if required or name in claims:
            raise TokenRejected("invalid_claims")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TokenRejected("invalid_claims")
    return float(value)


def split_bearer(authorization: str | None) -> tuple[str, str, str]:
    """`Bearer <jws>` -> (header, payload, signature) segments. The same rule as the template's ValidationExpression."""
    if not authorization:
        raise TokenRejected("missing_token")
    if len(authorization) > MAX_TOKEN_LENGTH + 7:
        raise TokenRejected("malformed")
    match = _BEARER.match(authorization)
    if not match:
        raise TokenRejected("malformed")
    header, payload, signature = match.groups()
    return header, payload, signature


class TokenVerifier:
    def __init__(self, settings: Settings, keys: JwksCache, clock: Callable[[], float] = time.time):
        self._settings, self.keys, self._clock = settings, keys, clock

    def verify(self, authorization: str | None) -> VerifiedToken:
        header_segment, payload_segment, signature_segment = split_bearer(authorization)
        if len(header_segment) > MAX_HEADER_SEGMENT:
            raise TokenRejected("malformed")
        header = _json_object(_b64url_decode(header_segment))
        payload = _b64url_decode(payload_segment)
        signature = _b64url_decode(signature_segment)

        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in ALLOWED_ALGORITHMS:
            raise TokenRejected("alg_not_allowed")
        typ = header.get("typ")
        if not (typ is None or (isinstance(typ, str) and typ.lower() in ALLOWED_TYPES)):
            raise TokenRejected("wrong_type")
        if "crit" in header or "b64" in header:
            raise TokenRejected("unsupported_header")  # we understand no extensions, so critical ones must fail
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > 256:
            raise TokenRejected("missing_kid")
        # jku/x5u/jwk/x5c are never read: keys come only from the configured issuer's JWKS.

        key = self.keys.key_for(kid)
        if key is None:
            raise TokenRejected("unknown_kid")
        if key.algorithm != algorithm:
            raise TokenRejected("alg_key_mismatch")  # e.g. RS256 header with an EC kid, ES256 header with a P-384 key
        # python-jose's key (cryptography backend) checks the signature over the exact received segments. The header was
        # parsed and checked above, so jws.verify's second parse of the same bytes is skipped (it is the hot path).
        try:
            valid = key.key.verify(f"{header_segment}.{payload_segment}".encode("ascii"), signature)
        except Exception:
            valid = False
        if not valid:
            raise TokenRejected("bad_signature")
        return self._check_claims(_json_object(payload))

    def _check_claims(self, claims: dict[str, Any]) -> VerifiedToken:
        settings, now = self._settings, self._clock()
        if claims.get("iss") != settings.issuer:
            raise TokenRejected("wrong_issuer")
        expires_at = _numeric_date(claims, "exp", required=True)
        # Logto always sets iat; the contract only requires it not to be in the future, so a token without it passes.
        issued_at = _numeric_date(claims, "iat", required=False)
        not_before = _numeric_date(claims, "nbf", required=False)
        assert expires_at is not None
        if now >= expires_at:
            raise TokenRejected("expired")
        skew = settings.clock_skew_seconds
        if any(t is not None and t > now + skew for t in (issued_at, not_before)):
            raise TokenRejected("not_yet_valid")
        if expires_at - (issued_at if issued_at is not None else now) > MAX_LIFETIME_SECONDS:
            raise TokenRejected("invalid_claims")

        subject = claims.get("sub")
        client_id = claims.get("client_id", "")
        if not isinstance(subject, str) or not subject or len(subject) > 256 or not isinstance(client_id, str):
            raise TokenRejected("invalid_claims")
        scope = claims.get("scope")
        if scope is None:
            scopes: frozenset[str] = frozenset()
        elif isinstance(scope, str):
            scopes = frozenset(part for part in scope.split(" ") if part)  # RFC 6749 §3.3: space-separated only
        else:
            raise TokenRejected("invalid_claims")

        kind, organization_id = self._kind(claims)
        return VerifiedToken(kind, subject, client_id, organization_id, scopes, expires_at)

    def _kind(self, claims: dict[str, Any]) -> tuple[TokenKind, str | None]:
        audience = claims.get("aud")
        if isinstance(audience, list) and len(audience) == 1:
            audience = audience[0]  # a one-element list means the same; more than one audience is ambiguous
        if not isinstance(audience, str):
            raise TokenRejected("wrong_audience")
        has_org_claim = "organization_id" in claims
        if audience.startswith(ORGANIZATION_URN_PREFIX):
            organization_id = _organization_id(audience[len(ORGANIZATION_URN_PREFIX) :])
            # Logto adds no organization_id here, but a tenant's JWT customizer may: it must name the same organization.
            if has_org_claim and claims["organization_id"] != organization_id:
                raise TokenRejected("wrong_audience")
            return TokenKind.ORGANIZATION, organization_id
        if self._settings.api_resource and audience == self._settings.api_resource:
            if not has_org_claim:
                return TokenKind.GLOBAL_API, None
            return TokenKind.ORGANIZATION_API, _organization_id(claims["organization_id"])
        raise TokenRejected("wrong_audience")


def _organization_id(value: Any) -> str:
    """Only plain ids may reach a policy ARN: `*`, `/`, `%` or an empty id could widen it."""
    if not isinstance(value, str) or not ORGANIZATION_ID.fullmatch(value):
        raise TokenRejected("bad_organization_id")
    return value
