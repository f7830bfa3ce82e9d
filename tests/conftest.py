"""Shared fixtures. Unit tests never touch the network: only loopback connections are allowed."""

from __future__ import annotations

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
