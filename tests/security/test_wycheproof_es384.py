"""All 280 Wycheproof ECDSA P-384/SHA-384 P1363 vectors through the exact verify path the authorizer uses
(jose key built by orgapi.tokens.jwks.parse_jwks, python-jose with the cryptography backend)."""

from __future__ import annotations

import json
from pathlib import Path

import jose.backends
import pytest

from orgapi.tokens.jwks import parse_jwks
from tests.support.jwt_factory import b64u

VECTORS = json.loads((Path(__file__).parent.parent / "data" / "ecdsa_secp384r1_sha384_p1363_test.json").read_text())


def _cases():
    for group in VECTORS["testGroups"]:
        x = bytes.fromhex(group["publicKey"]["wx"]).rjust(48, b"\0")[-48:]
        y = bytes.fromhex(group["publicKey"]["wy"]).rjust(48, b"\0")[-48:]
        jwk = {"kty": "EC", "crv": "P-384", "x": b64u(x), "y": b64u(y), "kid": "w"}
        for case in group["tests"]:
            yield pytest.param(jwk, case, id=f"tc{case['tcId']}")


def test_cryptography_backend_is_active():
    assert jose.backends.ECKey.__name__ == "CryptographyECKey"


@pytest.mark.parametrize("jwk,case", list(_cases()))
def test_vector(jwk, case):
    key = parse_jwks({"keys": [jwk]})["w"]
    assert key.algorithm == "ES384"
    try:
        ok = key.key.verify(bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"]))
    except Exception:
        ok = False
    assert ok is (case["result"] == "valid"), case["comment"]


def test_vector_count():
    assert sum(len(g["tests"]) for g in VECTORS["testGroups"]) == 280
