"""python-jose, loaded for verifying JWK keys without what that never uses (the authorizer's cold start).

python-jose's cryptography backend imports `cryptography.x509` and `cryptography.hazmat.primitives.serialization`
(with its SSH key parsers) at module level. A key built from a JWK and a signature check use neither: only PEM input
does (`load_pem_*`, certificates, SSH keys), which the authorizer never passes. Together they are more than half of the
authorizer's import time. So, while python-jose loads, those two modules are stood in for by placeholders that import
the real module on first use: python-jose stays the verifier, unchanged, with the cryptography backend; the
placeholders leave `sys.modules` right after, so any later import gets the real modules.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable
from typing import Any

# What python-jose's cryptography_backend takes from each deferred module at import time (`from x import name`).
_DEFERRED = {
    "cryptography.x509": ("load_pem_x509_certificate",),
    "cryptography.hazmat.primitives.serialization": ("load_pem_private_key", "load_pem_public_key"),
}


class _Deferred(types.ModuleType):
    """Stands in for a module python-jose imports but a JWK verification never touches: any use imports the real one."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # the import system's probes (__path__, __spec__, ...) must not load anything
            raise AttributeError(name)
        if sys.modules.get(self.__name__) is self:  # used while python-jose loads: step aside for the real one
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), name)


def _forwarder(module: str, name: str) -> Callable[..., Any]:
    def forward(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    forward.__name__ = name
    return forward


def _load() -> types.ModuleType:
    if "jose.backends" in sys.modules:
        return sys.modules["jose.backends"]
    placed = []
    for module, names in _DEFERRED.items():
        if module not in sys.modules:
            stand_in = _Deferred(module)
            for name in names:
                setattr(stand_in, name, _forwarder(module, name))
            sys.modules[module] = stand_in
            placed.append(module)
    try:
        import jose.backends
    finally:
        for module in placed:  # only ours: never a real module someone else imported meanwhile
            if isinstance(sys.modules.get(module), _Deferred):
                del sys.modules[module]
    return jose.backends


backends = _load()
# python-jose silently falls back to pure-python ECDSA (13x slower, Minerva-affected) if `cryptography` fails to load,
# e.g. a layer built for another Python version. Refuse to start instead.
if backends.ECKey.__name__ != "CryptographyECKey":  # pragma: no cover - depends on the installation
    raise RuntimeError("python-jose is not using the cryptography backend")

from jose import jwk  # noqa: E402  (after the backend above: jwk imports it)
from jose.backends.base import Key  # noqa: E402

__all__ = ["Key", "backends", "jwk"]
