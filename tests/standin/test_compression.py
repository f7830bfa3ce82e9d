"""Answers compressed as Logto compresses them: every tenant request passes `koa-compress()` with its defaults
(logto-io/logto packages/core/src/tenants/Tenant.ts; the negotiation is pinned by
packages/core/src/middleware/koa-compress.test.ts: gzip when accepted; koa-compress's 406 for `identity;q=0`, which
Logto's error handler swallows, see below). The defaults come from koajs/compress 5.1 lib/index.js (threshold 1024,
Vary, no header means identity) and lib/encodings.js (`*` is gzip/deflate, preference br > gzip > deflate).
notes/logto-observed.md "Answers are compressed": role lists came back gzip-compressed from Logto 1.42; checked again
on a Logto 1.42.0 build (koa-compress 5.1.1) for every header below: gzip, deflate, br, `*` → gzip, `gzip;q=0` → gzip,
`compress` and no header → identity."""

import gzip
import json
import zlib

import pytest

from local.logto.compression import PREFERRED, THRESHOLD, NotAcceptable, negotiate
from tests.standin.conftest import DEMO


def _organization_of_size(logto, size: int) -> str:
    """An organization whose GET answer is exactly `size` bytes (its customData pads it)."""
    org = logto.api("POST", "/organizations", json={"name": "Sized", "customData": {"pad": ""}}).get_json()["id"]
    pad = size - len(logto.api("GET", f"/organizations/{org}").get_data())
    assert pad >= 0
    logto.api("PATCH", f"/organizations/{org}", json={"customData": {"pad": "x" * pad}})
    assert len(logto.api("GET", f"/organizations/{org}").get_data()) == size
    return org


def test_a_body_of_1024_bytes_or_more_is_gzipped_when_the_client_accepts_gzip(logto):
    """`requests`' default `Accept-Encoding: gzip, deflate` (the service's client) gets gzip from 1024 bytes on;
    1023 bytes stay as they are (koa-compress: `threshold && ctx.response.length < threshold` returns early)."""
    accept = {"Accept-Encoding": "gzip, deflate"}
    small = _organization_of_size(logto, THRESHOLD - 1)
    answer = logto.api("GET", f"/organizations/{small}", headers=accept)
    assert "Content-Encoding" not in answer.headers and answer.get_json()["id"] == small
    big = _organization_of_size(logto, THRESHOLD)
    answer = logto.api("GET", f"/organizations/{big}", headers=accept)
    assert answer.headers["Content-Encoding"] == "gzip"
    body = answer.get_data()
    assert int(answer.headers["Content-Length"]) == len(body) < THRESHOLD
    with pytest.raises(ValueError):
        json.loads(body)  # what a client reading the raw stream sees
    assert json.loads(gzip.decompress(body))["id"] == big


def test_lists_the_service_reads_come_back_compressed(logto):
    """As seen on Logto 1.42: the organization-role list (the service's rank and permission source) is compressed."""
    answer = logto.api(
        "GET", "/organization-roles", query_string={"page_size": 100}, headers={"Accept-Encoding": "gzip"}
    )
    assert answer.headers["Content-Encoding"] == "gzip"
    assert {r["name"] for r in json.loads(gzip.decompress(answer.get_data()))} >= {"admin", "member"}


def test_deflate_alone_gets_deflate_and_br_is_preferred_only_when_available(logto):
    """encodings.js: preferred br, gzip, deflate within one weight. br is offered only when the `brotli` module is
    importable (not a dependency here); without it `gzip, deflate, br` gets gzip."""
    path = "/organization-roles?page_size=100"
    deflated = logto.api("GET", path, headers={"Accept-Encoding": "deflate"})
    assert deflated.headers["Content-Encoding"] == "deflate"
    assert json.loads(zlib.decompress(deflated.get_data()))  # zlib-wrapped, as Node's createDeflate
    every = logto.api("GET", path, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert every.headers["Content-Encoding"] == ("br" if "br" in PREFERRED else "gzip")
    weighted = logto.api("GET", path, headers={"Accept-Encoding": "gzip;q=0.5, deflate"})
    assert weighted.headers["Content-Encoding"] == "deflate"
    star = logto.api("GET", path, headers={"Accept-Encoding": "*"})
    assert star.headers["Content-Encoding"] == "gzip"


def test_no_accept_encoding_header_means_identity(logto):
    """koa-compress 5.1's defaultEncoding names no encoding: a request without the header gets the plain body."""
    answer = logto.api("GET", "/organization-roles", query_string={"page_size": 100})
    assert "Content-Encoding" not in answer.headers and len(answer.get_data()) >= THRESHOLD
    assert answer.get_json()
    identity = logto.api("GET", "/organization-roles?page_size=100", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in identity.headers


def test_every_answer_varies_on_accept_encoding(logto):
    """`ctx.vary('Accept-Encoding')` runs before anything else: small, large, empty and error answers carry it."""
    for answer in (
        logto.api("GET", f"/organizations/{DEMO}"),
        logto.api("GET", "/organization-roles?page_size=100", headers={"Accept-Encoding": "gzip"}),
        logto.api("DELETE", "/organizations/nope"),
        logto.api("GET", "/organization-roles?page_size=100", headers={"Accept-Encoding": "identity;q=0"}),
    ):
        assert "Accept-Encoding" in answer.headers.get("Vary", ""), answer.status_code


def test_ruling_out_every_encoding_gets_the_answer_uncompressed_not_406(logto):
    """koa-compress throws a 406 HttpError for `identity;q=0` and `foo, identity;q=0` (koa-compress.test.ts, a bare
    Koa app), but in Logto koaErrorHandler wraps koaCompress (Tenant.ts) and returns on an HttpError without touching
    the answer (middleware/koa-error-handler.ts): the route's own answer goes out uncompressed. Seen on a Logto 1.42.0
    build: 200, no Content-Encoding, for both headers on the organization-role list."""
    for header in ("identity;q=0", "foo, identity;q=0"):
        answer = logto.api("GET", "/organization-roles?page_size=100", headers={"Accept-Encoding": header})
        assert answer.status_code == 200 and "Content-Encoding" not in answer.headers
        assert {r["name"] for r in answer.get_json()} >= {"admin", "member"}
        assert "Accept-Encoding" in answer.headers["Vary"]
    small = logto.api("GET", f"/organizations/{DEMO}", headers={"Accept-Encoding": "identity;q=0"})
    assert small.status_code == 200 and small.get_json()["id"] == DEMO
    org = logto.api("POST", "/organizations", json={"name": "Gone"}).get_json()["id"]
    gone = logto.api("DELETE", f"/organizations/{org}", headers={"Accept-Encoding": "identity;q=0"})
    assert gone.status_code == 204


def test_the_oidc_endpoints_pass_the_same_middleware(logto):
    """koa-compress wraps the whole tenant app, `/oidc` included (Tenant.ts mounts the provider after it)."""
    jwks = logto.client.get("/oidc/jwks", headers={"Accept-Encoding": "gzip"})
    assert "Accept-Encoding" in jwks.headers["Vary"]
    token = logto.client.post("/oidc/token", data={"grant_type": "nope"}, headers={"Accept-Encoding": "gzip"})
    assert token.status_code == 400 and "Accept-Encoding" in token.headers["Vary"]


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        (None, "identity"),
        ("", "identity"),
        ("gzip, deflate", "gzip"),
        ("deflate, gzip", "gzip"),
        ("deflate", "deflate"),
        ("gzip;q=0.2, deflate;q=0.8", "deflate"),
        ("*", "gzip"),
        ("*;q=0.5, deflate", "deflate"),
        ("compress", "identity"),
        ("identity", "identity"),
        ("br", "br" if "br" in PREFERRED else "identity"),
        # encodings.js ranks weight 0 like any other weight: Logto gzips for `gzip;q=0` (not RFC 9110's reading)
        ("gzip;q=0", "gzip"),
    ],
)
def test_negotiation_follows_koa_compress(header, chosen):
    assert negotiate(header) == chosen


@pytest.mark.parametrize("header", ["identity;q=0", "foo, identity;q=0", "compress, identity;q=0"])
def test_negotiation_refuses_when_identity_is_ruled_out_and_nothing_else_fits(header):
    with pytest.raises(NotAcceptable):
        negotiate(header)
