"""Signing keys of the stand-in: an ES384 key (Logto's default) and an RS256 key (after an RSA rotation)."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwt


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint, as Logto uses for its kids."""
    members = {k: jwk[k] for k in (("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("e", "kty", "n"))}
    return _b64(hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest())


class KeyRing:
    def __init__(self, path: Path):
        if path.exists():
            stored = json.loads(path.read_text())
            self.ec = serialization.load_pem_private_key(stored["ec"].encode(), None)
            self.rsa = serialization.load_pem_private_key(stored["rsa"].encode(), None)
        else:
            self.ec = ec.generate_private_key(ec.SECP384R1())
            self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            path.parent.mkdir(parents=True, exist_ok=True)
            pem = {
                name: key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                ).decode()
                for name, key in (("ec", self.ec), ("rsa", self.rsa))
            }
            path.write_text(json.dumps(pem))
            path.chmod(0o600)
        self.jwks = {"keys": [self._public_jwk(self.ec), self._public_jwk(self.rsa)]}
        self.kid = {"ES384": self.jwks["keys"][0]["kid"], "RS256": self.jwks["keys"][1]["kid"]}

    @staticmethod
    def _public_jwk(key: Any) -> dict[str, Any]:
        numbers = key.public_key().public_numbers()
        if isinstance(key, ec.EllipticCurvePrivateKey):
            jwk = {
                "kty": "EC",
                "crv": "P-384",
                "x": _b64(numbers.x.to_bytes(48, "big")),
                "y": _b64(numbers.y.to_bytes(48, "big")),
            }
        else:
            n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
            jwk = {"kty": "RSA", "n": _b64(n), "e": _b64(numbers.e.to_bytes(3, "big"))}
        return {**jwk, "kid": _thumbprint(jwk), "use": "sig"}

    def pem(self, alg: str) -> str:
        key = self.ec if alg == "ES384" else self.rsa
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    def sign(self, claims: dict[str, Any], alg: str = "ES384", header: dict[str, Any] | None = None) -> str:
        headers = {"kid": self.kid[alg], "typ": "at+jwt", **(header or {})}
        return jwt.encode(claims, self.pem(alg), algorithm=alg, headers=headers)

    def verify(self, token: str, issuer: str, audience: str) -> dict[str, Any]:
        return jwt.decode(
            token,
            self.jwks,
            algorithms=["ES384", "RS256"],
            issuer=issuer,
            audience=audience,
            options={"require_exp": True, "require_aud": True, "require_sub": True},
        )

    def access_token(
        self,
        issuer: str,
        sub: str,
        client_id: str,
        aud: str,
        scope: str,
        ttl: int = 3600,
        alg: str = "ES384",
        **extra: Any,
    ) -> str:
        now = int(time.time())
        claims = {
            "jti": _b64(hashlib.sha256(f"{now}{sub}{time.perf_counter_ns()}".encode()).digest()[:12]),
            "sub": sub,
            "iat": now,
            "exp": now + ttl,
            "scope": scope,
            "client_id": client_id,
            "iss": issuer,
            "aud": aud,
            **extra,
        }
        return self.sign(claims, alg)
