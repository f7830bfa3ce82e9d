"""Response compression as real Logto does it: every tenant request passes `koa-compress()` with its defaults
(logto-io/logto packages/core/src/tenants/Tenant.ts `app.use(koaCompress())`; Logto pins koa-compress ~5.1, whose
negotiation packages/core/src/middleware/koa-compress.test.ts pins). What koa-compress 5.1 does
(koajs/compress lib/index.js, lib/encodings.js), and so what this module does:

- `Vary: Accept-Encoding` on every answer, compressed or not;
- a body is compressed only when it is 1024 bytes or more (`threshold` default), of a compressible type (the
  `compressible` package: JSON and text are), not HEAD, not 204/205/304, not already encoded, no `no-transform`;
- no `Accept-Encoding` header: identity (5.1's `defaultEncoding` names no encoding);
- `*` stands for gzip and deflate; q-values rank the encodings; within one weight the preference is br, gzip, deflate.
  As in 5.1, a weight of 0 still ranks (`gzip;q=0` gets gzip): this is Logto's behaviour, not RFC 9110's;
- when no listed encoding is supported and `identity;q=0` is given, koa-compress throws a 406 HttpError (what the
  bare Koa app of koa-compress.test.ts answers). In Logto that error never reaches Koa: koaErrorHandler, mounted
  before koaCompress (Tenant.ts), catches it and returns without touching the answer (middleware/koa-error-handler.ts,
  `if (isHttpError(error)) return;`), so the route's answer goes out as it is, uncompressed, with its own status.
  Seen on a Logto 1.42.0 build (koa-compress 5.1.1): `identity;q=0` and `foo, identity;q=0` → 200, identity.

br is offered only when the `brotli` module is importable: it is not a dependency of this project, and a client that
asks for br in `Accept-Encoding` then gets gzip or deflate, as from a Logto built without it would.
"""

from __future__ import annotations

import gzip
import importlib
import re
import zlib
from collections.abc import Callable
from types import ModuleType

from flask import Flask, Response, request

THRESHOLD = 1024
_DIRECTIVE = re.compile(r"^\s*(gzip|compress|deflate|br|identity|\*)\s*(?:;\s*q\s*=\s*(\d(?:\.\d)?))?\s*$")
_WILDCARD = ("gzip", "deflate")
_NO_TRANSFORM = re.compile(r"(?:^|,)\s*?no-transform\s*?(?:,|$)")
_EMPTY_STATUSES = {204, 205, 304}


def _brotli() -> ModuleType | None:
    try:
        return importlib.import_module("brotli")
    except ImportError:
        return None


ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,  # zlib-wrapped, as Node's createDeflate writes it
}
_BROTLI = _brotli()
if _BROTLI is not None:
    brotli_compress = _BROTLI.compress
    ENCODERS["br"] = lambda data: brotli_compress(data, quality=4)  # koa-compress's br default quality
PREFERRED = [e for e in ("br", "gzip", "deflate") if e in ENCODERS]


class NotAcceptable(Exception):
    """The client ruled out identity and every encoding offered (koa-compress's 406)."""


def negotiate(accept_encoding: str | None) -> str:
    """The encoding koa-compress 5.1 picks for this `Accept-Encoding` (Encodings.parseAcceptEncoding and
    getPreferredContentEncoding): "identity" for none; NotAcceptable where koa-compress throws its 406."""
    weights: dict[str, float] = {}
    for directive in (accept_encoding or "").split(","):
        match = _DIRECTIVE.match(directive)
        if not match:
            continue  # an encoding koa-compress does not know
        name = match[1]
        weight = min(max(float(match[2]) if match[2] else 1.0, 0.0), 1.0)
        if name == "*":
            for wildcard in _WILDCARD:
                weights.setdefault(wildcard, weight)
        else:
            weights[name] = weight
    for weight in sorted(set(weights.values()), reverse=True):
        at_weight = {name for name, w in weights.items() if w == weight}
        chosen = next((name for name in PREFERRED if name in at_weight), None)
        if chosen:
            return chosen
    if weights.get("identity") == 0:
        raise NotAcceptable
    return "identity"


def _compressible(mimetype: str) -> bool:
    """The `compressible` package's answer for the types the stand-in serves."""
    return mimetype.startswith("text/") or mimetype == "application/json" or mimetype.endswith("+json")


def compress(response: Response) -> Response:
    """koa-compress's middleware, after the route has produced its answer."""
    response.vary.add("Accept-Encoding")
    if (
        response.direct_passthrough
        or request.method == "HEAD"
        or response.status_code in _EMPTY_STATUSES
        or "Content-Encoding" in response.headers
        or not _compressible(response.mimetype or "")
        or _NO_TRANSFORM.search(response.headers.get("Cache-Control", ""))
    ):
        return response
    body = response.get_data()
    if not body or len(body) < THRESHOLD:
        return response
    try:
        encoding = negotiate(request.headers.get("Accept-Encoding"))
    except NotAcceptable:
        return response  # koa-compress's 406, swallowed by Logto's error handler: the answer, uncompressed
    if encoding == "identity":
        return response
    response.set_data(ENCODERS[encoding](body))  # also sets Content-Length to the encoded size
    response.headers["Content-Encoding"] = encoding
    return response


def install(app: Flask) -> None:
    """Compress every answer of the stand-in as Logto's tenant app does (OIDC, Management API, and the dev helpers,
    which are served by the same app)."""
    app.after_request(compress)
