"""The unit tests' HTTP stub can answer compressed as Logto does (tests/support/http_stub.py `compress=`), so client
tests can serve gzip/deflate bodies; without the option it answers as before."""

import gzip
import json
import zlib

import requests

from tests.support.http_stub import StubServer

BIG = {"items": ["x" * 40] * 40}  # well over koa-compress's 1024-byte threshold


def _get(stub: StubServer, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.get(f"{stub.url}/big", headers=headers, timeout=5, stream=True)


def test_logto_mode_negotiates_like_koa_compress():
    stub = StubServer({"/big": lambda: (200, BIG, 0), "/small": lambda: (200, {"a": 1}, 0)}, compress="logto")
    try:
        answer = _get(stub, {"Accept-Encoding": "gzip, deflate"})
        assert answer.headers["Content-Encoding"] == "gzip" and answer.headers["Vary"] == "Accept-Encoding"
        assert json.loads(gzip.decompress(answer.raw.read())) == BIG
        assert _get(stub, {"Accept-Encoding": "deflate"}).headers["Content-Encoding"] == "deflate"
        assert "Content-Encoding" not in _get(stub, {"Accept-Encoding": "identity"}).headers
        refused_all = _get(stub, {"Accept-Encoding": "identity;q=0"})
        assert refused_all.status_code == 200 and "Content-Encoding" not in refused_all.headers
        small = requests.get(f"{stub.url}/small", headers={"Accept-Encoding": "gzip"}, timeout=5)
        assert "Content-Encoding" not in small.headers and small.json() == {"a": 1}
    finally:
        stub.close()


def test_a_fixed_encoding_compresses_every_body_and_sends_bytes_as_given():
    bomb = zlib.compress(b"[" + b" " * 1_000_000 + b"]")  # pre-made: sent as it is
    routes = {"/big": lambda: (200, {"a": 1}, 0), "/bomb": lambda: (200, bomb, 0)}
    stub = StubServer(routes, compress="deflate")
    try:
        answer = _get(stub, {"Accept-Encoding": "identity"})
        assert answer.headers["Content-Encoding"] == "deflate"
        assert json.loads(zlib.decompress(answer.raw.read())) == {"a": 1}
        raw = requests.get(f"{stub.url}/bomb", timeout=5, stream=True).raw.read()
        assert raw == bomb
    finally:
        stub.close()


def test_without_the_option_nothing_changes():
    stub = StubServer({"/big": lambda: (200, BIG, 0)})
    try:
        answer = _get(stub, {"Accept-Encoding": "gzip"})
        assert "Content-Encoding" not in answer.headers and "Vary" not in answer.headers
        assert json.loads(answer.raw.read()) == BIG
    finally:
        stub.close()
