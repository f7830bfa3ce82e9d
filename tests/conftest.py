"""Shared fixtures. Unit tests never touch the network: only loopback connections are allowed."""

from __future__ import annotations

import contextlib
import socket

import pytest

_real_connect = socket.socket.connect


def _loopback_only(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("/"):
        raise RuntimeError(f"test tried to reach the network: {host}")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


@pytest.fixture(autouse=True)
def _quiet_powertools(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "LogtoOrgApiTest")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")


@pytest.fixture
def log_lines(capsys):
    """Structured log lines written during the test (Powertools binds stdout at import, so re-point it here)."""
    import sys

    from orgapi.base.observability import logger

    class CurrentStdout:  # pytest swaps sys.stdout between setup and call; resolve it at write time
        def write(self, text):
            return sys.stdout.write(text)

        def flush(self):
            sys.stdout.flush()

    for handler in logger._logger.handlers:
        handler.setStream(CurrentStdout())

    def read():
        import json

        lines = []
        for line in capsys.readouterr().out.splitlines():
            with contextlib.suppress(ValueError):
                lines.append(json.loads(line))
        return lines

    return read
