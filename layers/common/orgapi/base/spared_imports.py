"""Loading a library without the modules it imports at its top for features this service never uses (cold starts).

Every cold start pays for each module a function imports. Three libraries we keep import, at module level, something
only an unused feature of theirs needs:
- python-jose's cryptography backend: `cryptography.x509` and `...serialization` (PEM keys, certificates, SSH keys);
  a key built from a JWK and a signature check use neither (orgapi.tokens.jose_backend);
- Powertools' Logger: its JMESPath utilities (jmespath, typing_extensions, gzip), for `correlation_id_path`, which we
  never pass (orgapi.base.observability);
- urllib3: `importlib.metadata` (zipfile, email, pathlib...), read only when a program opts in to HTTP/2
  (`urllib3.http2.inject_into_urllib3`), which we never do (orgapi.logto.http).

`sparing` stands a placeholder in for each such module while the library loads: the library stays what it is,
unchanged; any use of a placeholder imports the real module then; the placeholders leave `sys.modules` right after, so
any later import gets the real module. tests/unit/test_import_graph.py checks both halves: what stays out of a cold
start, and that what was spared still works when asked for.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any


class _Placeholder(types.ModuleType):
    """Stands in for a module a library imports but this service never uses: any use imports the real one."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # the import system's probes (__path__, __spec__, ...) must not load anything
            raise AttributeError(name)
        if sys.modules.get(self.__name__) is self:  # used while the library loads: step aside for the real one
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), name)


def _forwarder(module: str, name: str) -> Callable[..., Any]:
    """For `from module import name` at the library's top: a function that imports the real one when called."""

    def forward(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    forward.__name__ = name
    return forward


@contextmanager
def sparing(modules: Mapping[str, tuple[str, ...]]) -> Iterator[None]:
    """While the body imports a library, `modules` (name -> the functions the library takes from it with
    `from module import f`) are placeholders. A module already loaded is used as it is."""
    placed = []
    for module, names in modules.items():
        if module not in sys.modules:
            placeholder = _Placeholder(module)
            for name in names:
                setattr(placeholder, name, _forwarder(module, name))
            sys.modules[module] = placeholder
            placed.append(module)
    try:
        yield
    finally:
        for module in placed:  # only ours: never a real module someone imported meanwhile
            if isinstance(sys.modules.get(module), _Placeholder):
                del sys.modules[module]
