"""CORS headers on the functions' responses (ALLOWED_ORIGINS), so a browser app on an allowed origin can read them.

Preflights and API Gateway's own errors (401/403/404/429/5xx) never reach a function: template.yaml answers those.
Here only the data-carrying answers are decided, and there the allow-list is exact: an origin not on it gets no
Access-Control-Allow-Origin, so its browser cannot read a success or an operation error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from orgapi.base.errors import ConfigError

# What a browser sends as Origin: lower-case scheme and host, a port only when it is not the scheme's default,
# nothing after it. A configured origin in any other spelling could never match, so it is refused at cold start.
_ORIGIN = re.compile(
    r"^(?P<scheme>https?)://(?P<host>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*"
    r"|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{1,5}))?$"
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
EXPOSE_HEADERS = "Total-Number, Retry-After, Next-Cursor"


@dataclass(frozen=True)
class CorsPolicy:
    """Which browser origins may call the API."""

    origins: frozenset[str] = frozenset()
    any_origin: bool = False

    @property
    def enabled(self) -> bool:
        return self.any_origin or bool(self.origins)

    def headers(self, origin: str | None) -> dict[str, str]:
        """The CORS headers for a response to a request from `origin` (None: no Origin header)."""
        if not self.enabled:
            return {}
        headers = {"Vary": "Origin", "Access-Control-Expose-Headers": EXPOSE_HEADERS}
        if self.any_origin:
            headers["Access-Control-Allow-Origin"] = "*"
        elif origin is not None and origin in self.origins:
            headers["Access-Control-Allow-Origin"] = origin
        return headers


def parse_allowed_origins(raw: str) -> CorsPolicy:
    """ALLOWED_ORIGINS: empty (no CORS), `*`, or comma-separated exact origins `scheme://host[:port]`."""
    raw = raw.strip()
    if not raw:
        return CorsPolicy()
    if raw == "*":
        return CorsPolicy(any_origin=True)
    origins = [entry.strip() for entry in raw.split(",")]
    for origin in origins:
        match = _ORIGIN.match(origin)
        if origin == "*":
            raise ConfigError("ALLOWED_ORIGINS may be `*` alone, not `*` in a list")
        if match is None:
            raise ConfigError(
                f"ALLOWED_ORIGINS entries must be exact origins like https://app.example.com[:port] (lower case, "
                f"no path, no trailing slash), got {origin!r}"
            )
        port = match.group("port")
        if port is not None and (int(port) == _DEFAULT_PORTS[match.group("scheme")] or not 0 < int(port) < 65536):
            raise ConfigError(f"ALLOWED_ORIGINS: {origin!r} has a default or invalid port (browsers omit :80/:443)")
    return CorsPolicy(origins=frozenset(origins))
