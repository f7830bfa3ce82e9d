"""A TokenVerifier wired to an in-memory JWKS (no network) and a controllable clock."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from orgapi.base.config import load_settings
from orgapi.tokens.jwks import JwksCache
from orgapi.tokens.verify import TokenVerifier
from tests.support.jwt_factory import API_RESOURCE, ENDPOINT, SigningKey


@dataclass
class FakeJwksServer:
    keys: list[dict[str, Any]]
    fetches: int = 0
    fail: bool = False
    urls: list[str] = field(default_factory=list)

    def __call__(self, url: str, timeout: float) -> dict[str, Any]:
        self.fetches += 1
        self.urls.append(url)
        assert timeout <= 3
        if self.fail:
            raise OSError("connection refused")
        return {"keys": list(self.keys)}


@dataclass
class Clock:
    now: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return self.now


def make_verifier(keys: list[SigningKey], env: dict[str, str] | None = None, clock: Clock | None = None):
    settings = load_settings({"LOGTO_ENDPOINT": ENDPOINT, "API_RESOURCE": API_RESOURCE, **(env or {})})
    server = FakeJwksServer([k.public_jwk() for k in keys])
    clock = clock or Clock()
    cache = JwksCache(
        settings.jwks_url,
        max_age=settings.jwks_max_age_seconds,
        cooldown=settings.jwks_refresh_cooldown_seconds,
        stale_grace=settings.jwks_stale_grace_seconds,
        fetch=server,
        clock=clock,
    )
    return TokenVerifier(settings, cache, clock=clock), server, clock
