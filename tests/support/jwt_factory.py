"""Keys, JWKS documents and tokens for tests, including deliberately broken ones (notes/security.md §1.1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ISSUER = "https://tenant.logto.app/oidc"
ENDPOINT = "https://tenant.logto.app"
API_RESOURCE = "https://api.example.com/org"
ORG = "org1abc"
OTHER_ORG = "org2xyz"


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: Any) -> str:
    return value if isinstance(value, str) else b64u(json.dumps(value, separators=(",", ":")).encode())


_CURVES = {
    "ES256": (ec.SECP256R1, hashes.SHA256, 32, "P-256"),
    "ES384": (ec.SECP384R1, hashes.SHA384, 48, "P-384"),
    "ES512": (ec.SECP521R1, hashes.SHA512, 66, "P-521"),
}


@dataclass
class SigningKey:
    kid: str
    alg: str
    private: Any

    @classmethod
    def generate(cls, kid: str, alg: str = "ES384") -> SigningKey:
        if alg == "RS256":
            return cls(kid, alg, rsa.generate_private_key(public_exponent=65537, key_size=2048))
        return cls(kid, alg, ec.generate_private_key(_CURVES[alg][0]()))

    def public_jwk(self, **extra: Any) -> dict[str, Any]:
        numbers = self.private.public_key().public_numbers()
        if self.alg == "RS256":
            n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
            jwk = {"kty": "RSA", "n": b64u(n), "e": b64u(numbers.e.to_bytes(3, "big"))}
        else:
            size, crv = _CURVES[self.alg][2], _CURVES[self.alg][3]
            jwk = {
                "kty": "EC",
                "crv": crv,
                "x": b64u(numbers.x.to_bytes(size, "big")),
                "y": b64u(numbers.y.to_bytes(size, "big")),
            }
        return {**jwk, "kid": self.kid, **extra}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def public_der(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, signing_input: str) -> str:
        data = signing_input.encode()
        if self.alg == "RS256":
            return b64u(self.private.sign(data, padding.PKCS1v15(), hashes.SHA256()))
        _, hash_cls, size, _ = _CURVES[self.alg]
        r, s = decode_dss_signature(self.private.sign(data, ec.ECDSA(hash_cls())))
        return b64u(r.to_bytes(size, "big") + s.to_bytes(size, "big"))


def hmac_signer(secret: bytes, digest=hashlib.sha256):
    return lambda signing_input: b64u(hmac.new(secret, signing_input.encode(), digest).digest())


def forge(header: Any, claims: Any, signer=None) -> str:
    """A compact JWS from raw parts; `signer` None gives an empty signature."""
    signing_input = segment(header) + "." + segment(claims)
    return signing_input + "." + (signer(signing_input) if signer else "")


def claims(now: float | None = None, **overrides: Any) -> dict[str, Any]:
    now = time.time() if now is None else now
    base = {
        "jti": "j1",
        "sub": "user1",
        "iat": int(now),
        "exp": int(now) + 3600,
        "client_id": "app1",
        "scope": "member:read member:invite",
        "iss": ISSUER,
        "aud": f"urn:logto:organization:{ORG}",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not DROP}


DROP = object()  # claims(..., exp=DROP) removes the claim


def token(key: SigningKey, claim_overrides: dict[str, Any] | None = None, **header_overrides: Any) -> str:
    header = {"alg": key.alg, "typ": "at+jwt", "kid": key.kid}
    header.update(header_overrides)
    header = {k: v for k, v in header.items() if v is not DROP}
    return forge(header, claims(**(claim_overrides or {})), key.sign)
