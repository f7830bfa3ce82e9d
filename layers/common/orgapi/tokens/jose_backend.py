"""python-jose, loaded for verifying JWK keys without what that never uses (the authorizer's cold start).

python-jose's cryptography backend imports `cryptography.x509` and `cryptography.hazmat.primitives.serialization`
(with its SSH key parsers) at module level. A key built from a JWK and a signature check use neither: only PEM input
does (`load_pem_*`, certificates, SSH keys), which the authorizer never passes. Together they are more than half of
python-jose's import time, so they are spared while it loads (orgapi.base.spared_imports): python-jose stays the
verifier, unchanged, with the cryptography backend.
"""

from __future__ import annotations

import sys
import types

from orgapi.base.spared_imports import sparing

# What python-jose's cryptography_backend takes from each spared module at import time (`from x import name`).
_SPARED = {
    "cryptography.x509": ("load_pem_x509_certificate",),
    "cryptography.hazmat.primitives.serialization": ("load_pem_private_key", "load_pem_public_key"),
}


def _load() -> types.ModuleType:
    if "jose.backends" in sys.modules:
        return sys.modules["jose.backends"]
    with sparing(_SPARED):
        import jose.backends
    return jose.backends


backends = _load()
# python-jose silently falls back to pure-python ECDSA (13x slower, Minerva-affected) if `cryptography` fails to load,
# e.g. a layer built for another Python version. Refuse to start instead.
if backends.ECKey.__name__ != "CryptographyECKey":  # pragma: no cover - depends on the installation
    raise RuntimeError("python-jose is not using the cryptography backend")

from jose import jwk  # noqa: E402  (after the backend above: jwk imports it)
from jose.backends.base import Key  # noqa: E402

__all__ = ["Key", "backends", "jwk"]
