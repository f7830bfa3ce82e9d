"""Starts the local stack (`make local`'s own entry point) once per test session on free ports, in a temp data folder,
and drives it over HTTP. Every test here goes through template.yaml routing, the real authorizer and the functions."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import requests

from local import harness
from local.harness import APP_PYTHON, TOOLS_PYTHON


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@dataclass
class Stack:
    url: str
    logto: str
    http: requests.Session
    management_token: str | None = None  # the tests' own M2M token (one token request, not a function's)
    output: list[str] = field(default_factory=list)  # what the server has printed to its terminal so far, by line

    def token(self, kind: str, user: str, org: str | None = None, scopes: list[str] | None = None, **extra) -> str:
        body = {"kind": kind, "userId": user, "organizationId": org, **extra}
        if scopes is not None:
            body["scopes"] = scopes
        response = self.http.post(f"{self.logto}/__dev/tokens", json=body, timeout=5)
        assert response.status_code == 200, response.text
        return response.json()["token"]

    def sign(self, claims: dict, alg: str = "ES384", header: dict | None = None) -> str:
        return self.http.post(
            f"{self.logto}/__dev/sign", json={"claims": claims, "alg": alg, "header": header}, timeout=5
        ).json()["token"]

    def logto_stats(self) -> dict:
        return self.http.get(f"{self.logto}/__dev/stats", timeout=5).json()

    def gateway_stats(self) -> dict:
        return self.http.get(f"{self.url}/__local/stats", timeout=5).json()

    def fault(self, **spec) -> None:
        assert self.http.post(f"{self.logto}/__dev/faults", json=spec, timeout=5).status_code == 201

    def clear_faults(self) -> None:
        self.http.delete(f"{self.logto}/__dev/faults", timeout=5)

    def management(self, method: str, path: str, **kwargs) -> requests.Response:
        """Call the stand-in's Management API directly with its M2M app, as a tenant admin would (set-up only)."""
        from local.logto.credentials import M2M_APP_ID, M2M_APP_SECRET

        if self.management_token is None:
            self.management_token = self.http.post(
                f"{self.logto}/oidc/token",
                data={"grant_type": "client_credentials", "resource": "https://default.logto.app/api", "scope": "all"},
                auth=(M2M_APP_ID, M2M_APP_SECRET),
                timeout=5,
            ).json()["access_token"]
        headers = {"Authorization": f"Bearer {self.management_token}"}
        return self.http.request(method, f"{self.logto}/api{path}", headers=headers, timeout=10, **kwargs)

    def outbox(self) -> list[dict]:
        """Invitation e-mails the stand-in would have sent: [{to, invitationId, link, organizationId, at}]."""
        return self.http.get(f"{self.logto}/__dev/outbox", timeout=5).json()

    def email_connector(self, enabled: bool) -> None:
        """Simulate a tenant with (or without) an e-mail connector (without: Logto answers 501 connector.not_found)."""
        assert self.http.post(f"{self.logto}/__dev/connector", json={"email": enabled}, timeout=5).status_code == 200

    def call(self, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)


# The session's stack runs without limits: its tests create organizations and invite the seeded users all session
# long. The limits are tested on a stack of their own with small ones (test_limits.py, `limited_stack`).
NO_LIMITS = {
    "MAX_ORGS_CREATED_PER_USER_PER_DAY": "0",
    "MAX_MEMBERS_PER_ORG": "0",
    "MAX_PENDING_INVITATIONS_PER_ORG": "0",
    "MAX_INVITATION_EMAILS_PER_ORG_PER_DAY": "0",
    "MAX_INVITATION_EMAILS_PER_INVITEE_PER_DAY": "0",
}


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    yield from start_stack(tmp_path_factory, NO_LIMITS)


def start_stack(tmp_path_factory, extra_env: dict[str, str]):
    """The stack through the one harness (local/harness.py), driven here with the tests' Stack helpers."""
    if not TOOLS_PYTHON.exists() or not APP_PYTHON.exists():
        pytest.fail("the e2e tests need .venv and .venv-tools: run them with `make test` (or `make e2e`)")
    try:
        running = harness.start(tmp_path_factory.mktemp("local-stack"), env=extra_env, workers=2)
    except harness.StackFailed as failed:
        pytest.fail(str(failed))
    stack = Stack(running.url, running.logto, requests.Session(), output=running.output)
    yield stack
    running.stop()


@pytest.fixture(autouse=True)
def _no_faults_left(request):
    yield
    if "stack" in request.fixturenames:
        request.getfixturevalue("stack").clear_faults()
