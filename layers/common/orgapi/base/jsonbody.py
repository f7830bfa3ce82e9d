"""Strict JSON request bodies: a JSON object sent as application/json, no duplicate member names, no NaN/Infinity, no
nesting deeper than MAX_DEPTH. Anything else is refused before a model sees it (and long before Logto does).

Python's json module is the parser; its hooks do the refusing. Lenient JSON is an attack surface here: with duplicate
names, a validator and the code after it may read different values; NaN cannot even be sent on to Logto.
"""

from __future__ import annotations

import json
import math
from typing import Any

from orgapi.base.errors import ApiError, BadRequest

MAX_DEPTH = 32


class UnsupportedMediaType(ApiError):
    status, code, message = (
        415,
        "unsupported_media_type",
        "Request bodies must be sent as Content-Type: application/json",
    )


class _Refused(ValueError):
    pass


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise _Refused(f"duplicate member name {name[:64]!r}")
        result[name] = value
    return result


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses to inf
        raise _Refused("number out of range")
    return value


def _depth(value: Any) -> int:
    """Nesting depth without recursion (the parser already bounds recursion; this bounds what we accept)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = list(node.values())
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def is_json_media_type(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == "application/json"


def parse_object(raw: str | None, content_type: str | None) -> dict[str, Any]:
    """The body as a dict, or a 400/415 ApiError saying what is wrong (never echoing the body)."""
    if raw is None or not raw.strip():
        raise BadRequest("A JSON body is required", code="invalid_body")
    if not is_json_media_type(content_type):
        raise UnsupportedMediaType()
    if "\ufffd" in raw:
        # API Gateway passes a body that is not UTF-8 on with U+FFFD for each bad byte sequence: refused here, so a
        # mis-encoded name never lands in Logto as "Caf\ufffd".
        raise BadRequest("The body is not valid UTF-8 text", code="invalid_json")
    try:
        data = json.loads(
            raw,
            object_pairs_hook=_object_without_duplicates,
            parse_constant=_no_constant,
            parse_float=_finite_float,
        )
    except _Refused as exc:
        raise BadRequest(f"The body is not acceptable JSON: {exc}", code="invalid_json") from None
    except (ValueError, RecursionError):  # 64 KB of "[" nests deeper than the parser's recursion limit
        raise BadRequest("The body is not valid JSON", code="invalid_json") from None
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object", code="invalid_body")
    if _depth(data) > MAX_DEPTH:
        raise BadRequest(f"The body nests deeper than {MAX_DEPTH} levels", code="invalid_json")
    return data
