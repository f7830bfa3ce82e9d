"""CORS on the way out: every response of an operation, success or error, gets the headers the policy
(orgapi.base.cors, from ALLOWED_ORIGINS) gives the request's Origin."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any

from orgapi.base.cors import CorsPolicy


def request_origin(event: Mapping[str, Any]) -> str | None:
    """The request's Origin header; header names arrive in any case (HTTP/2 clients send them lower-case)."""
    for name, value in (event.get("headers") or {}).items():
        if isinstance(name, str) and name.lower() == "origin" and isinstance(value, str):
            return value
    return None


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def with_cors(policy: CorsPolicy) -> Callable[[Handler], Handler]:
    """Adds the CORS headers to every response of a Lambda proxy handler (successes and errors alike)."""

    def decorate(handler: Handler) -> Handler:
        if not policy.enabled:
            return handler

        @wraps(handler)
        def wrapped(event: dict[str, Any], context: Any) -> dict[str, Any]:
            response = handler(event, context)
            response["headers"] = {**(response.get("headers") or {}), **policy.headers(request_origin(event))}
            return response

        return wrapped

    return decorate
