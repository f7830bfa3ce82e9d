"""The issuer's signing keys: fetched from `<issuer>/jwks`, constructed once, looked up by `kid`.

Rules (see README "Key set caching"):
- a key set is trusted for `max_age` seconds, then fetched again, so a key Logto deleted stops verifying;
- an unknown `kid` triggers a refresh at most once per `cooldown` seconds; concurrent refreshes are single-flight;
- if a refresh fails, a stale set is still used for `stale_grace` seconds; after that JwksUnavailable (a 5xx, never an Allow).
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from orgapi.tokens.jose_backend import Key, jwk

# The algorithms we verify, and the key each one must use. No `none`, no HS* (symmetric keys never come from a JWKS).
EC_ALGORITHM_BY_CURVE = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
ALLOWED_ALGORITHMS = frozenset({"ES256", "ES384", "ES512", "RS256"})
MAX_JWKS_BYTES = 256 * 1024
MIN_RSA_MODULUS_BITS = 2048


class JwksUnavailable(Exception):
    """The key set could not be fetched and no usable cached copy exists."""


@dataclass(frozen=True)
class VerificationKey:
    """A public key from Logto's JWKS, with its id and algorithm."""

    kid: str
    algorithm: str
    key: Key


def _rsa_modulus_bits(value: Any) -> int:
    """The modulus' real size: its decoded big-endian integer's bit length (the base64 length can only estimate it,
    and leading zero bytes or a 2040-bit modulus would pass an estimate)."""
    if not isinstance(value, str) or len(value) > 4096:
        return 0
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (ValueError, binascii.Error):
        return 0
    return int.from_bytes(raw, "big").bit_length()


def _algorithm_for(entry: Mapping[str, Any]) -> str | None:
    """The one algorithm this JWK may verify, or None when the key is unusable for us."""
    kty = entry.get("kty")
    declared = entry.get("alg")
    if kty == "EC":
        expected = EC_ALGORITHM_BY_CURVE.get(entry.get("crv", ""))
    elif kty == "RSA":
        expected = "RS256" if _rsa_modulus_bits(entry.get("n")) >= MIN_RSA_MODULUS_BITS else None
    else:
        expected = None
    if expected is None or declared not in (None, expected):
        return None
    return expected


def parse_jwks(document: Any, on_skip: Callable[[str, str], None] | None = None) -> dict[str, VerificationKey]:
    """Build verification keys from a JWKS document, skipping (and reporting) entries we must not use."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document")
    keys: dict[str, VerificationKey] = {}
    duplicates: set[str] = set()
    for entry in document["keys"]:
        kid = entry.get("kid") if isinstance(entry, Mapping) else None
        reason = None
        if not isinstance(kid, str) or not kid or len(kid) > 256:
            reason = "missing_kid"
        elif "d" in entry or "p" in entry or "k" in entry:
            reason = "not_a_public_key"  # a private or symmetric key published by mistake is never used
        elif entry.get("use") not in (None, "sig"):
            reason = "not_a_signing_key"
        else:
            algorithm = _algorithm_for(entry)
            if algorithm is None:
                reason = "unsupported_key"
            else:
                try:
                    constructed = jwk.construct(dict(entry), algorithm)
                except Exception:  # off-curve points, bad encodings: skip the key, keep the others
                    reason = "invalid_key"
                else:
                    if kid in keys:
                        duplicates.add(kid)
                    keys[kid] = VerificationKey(kid, algorithm, constructed)
        if reason and on_skip:
            on_skip(str(kid)[:64], reason)
    for kid in duplicates:  # two keys under one kid: we cannot tell which is meant, so trust neither
        del keys[kid]
        if on_skip:
            on_skip(kid[:64], "duplicate_kid")
    return keys


def fetch_jwks_document(url: str, timeout: float) -> Any:
    """GET the JWKS with a hard timeout, no redirects followed, a size cap. stdlib keeps the authorizer's cold start small,
    and is imported here: only a fetch needs it (in Lambda, the prefetch during init)."""
    import urllib.request

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(_NoRedirect)
    # The URL is the configured issuer, validated as http(s) at cold start.
    # identity: Logto compresses answers of 1 KB or more when asked (koa-compress), and urllib decodes nothing.
    headers = {"Accept": "application/json", "Accept-Encoding": "identity", "User-Agent": "logto-org-api"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310
    with opener.open(request, timeout=timeout) as response:
        if response.status != 200:
            raise JwksUnavailable(f"JWKS answered {response.status}")
        if response.headers.get("Content-Encoding", "identity").strip().lower() != "identity":
            raise JwksUnavailable("JWKS answered in an encoding we did not offer")
        body = response.read(MAX_JWKS_BYTES + 1)
    if len(body) > MAX_JWKS_BYTES:
        raise JwksUnavailable("JWKS document too large")
    return json.loads(body)


class JwksCache:
    def __init__(
        self,
        url: str,
        *,
        max_age: float,
        cooldown: float,
        stale_grace: float,
        timeout: float = 3.0,
        fetch: Callable[[str, float], Any] = fetch_jwks_document,
        clock: Callable[[], float] = time.monotonic,
        on_fetch: Callable[[bool, int], None] | None = None,
        on_skip: Callable[[str, str], None] | None = None,
    ):
        self._url, self._max_age, self._cooldown, self._stale_grace, self._timeout = (
            url,
            max_age,
            cooldown,
            stale_grace,
            timeout,
        )
        self._fetch, self._clock, self._on_fetch, self._on_skip = fetch, clock, on_fetch, on_skip
        self._keys: dict[str, VerificationKey] = {}
        self._fetched_at: float | None = None  # time of the last successful fetch
        self._last_failure: float | None = None
        self._last_kid_refresh: float | None = None
        self._generation = 0
        self._lock = threading.Lock()

    def prefetch(self) -> bool:
        """Fetch the key set ahead of the first request (Lambda init runs with a full CPU). Failures are not fatal
        here: the first request then tries again under the usual rules."""
        try:
            self._refresh(self._generation, reason="prefetch")
        except JwksUnavailable:
            self._last_failure = None  # an init-time blip must not hold the first requests in the failure backoff
            return False
        return self._fetched_at is not None

    def key_for(self, kid: str) -> VerificationKey | None:
        """The key for `kid`, refreshing the set when it is too old or (rate-limited) when the kid is unknown."""
        generation = self._generation
        if self._expired() and not self._recently_failed():
            self._refresh(generation, reason="expired")
        if self._fetched_at is None or self._clock() - self._fetched_at >= self._max_age + self._stale_grace:
            # Never fetched, or stale past the grace period while Logto stays unreachable: fail closed (5xx).
            raise JwksUnavailable("no usable JWKS")
        key = self._keys.get(kid)
        if (
            key is None
            and generation == self._generation
            and not self._recently_failed()
            and self._kid_refresh_allowed()
        ):
            # (not when this very call just fetched the set: the kid is simply not in it)
            self._last_kid_refresh = self._clock()
            self._refresh(generation, reason="unknown_kid")
            key = self._keys.get(kid)
        return key

    def _expired(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self._max_age

    def _recently_failed(self) -> bool:
        # After a failed fetch every caller waits out the cooldown: an outage costs one fetch per period, not one per request.
        return self._last_failure is not None and self._clock() - self._last_failure < self._cooldown

    def _kid_refresh_allowed(self) -> bool:
        # A flood of random kids costs at most one fetch per cooldown.
        return self._last_kid_refresh is None or self._clock() - self._last_kid_refresh >= self._cooldown

    def _refresh(self, generation: int, reason: str) -> None:
        with self._lock:
            if self._generation != generation:
                return  # another thread fetched while we waited: single flight
            try:
                keys = parse_jwks(self._fetch(self._url, self._timeout), self._on_skip)
            except Exception as exc:
                self._generation += 1
                self._last_failure = self._clock()
                if self._on_fetch:
                    self._on_fetch(False, 0)
                if (
                    self._fetched_at is not None
                    and self._clock() - self._fetched_at < self._max_age + self._stale_grace
                ):
                    return  # keep serving the stale set through a short outage
                raise JwksUnavailable(f"JWKS fetch failed ({reason}): {type(exc).__name__}") from exc
            self._last_failure = None
            self._generation += 1
            self._keys, self._fetched_at = keys, self._clock()
            if self._on_fetch:
                self._on_fetch(True, len(keys))
