"""The Logto stand-in in-process (Flask test client), with an M2M token for its Management API. Every test in this
folder checks one behaviour of real Logto 1.42 that the service depends on; its docstring says where it comes from
(a file in logto-io/logto, or a section of notes/logto-observed.md)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from local.logto.credentials import M2M_APP_ID, M2M_APP_SECRET
from local.logto.server import create_app

API_RESOURCE = "https://api.example.com/org"
MANAGEMENT = "https://default.logto.app/api"
DEMO = "demo0org0001"


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@dataclass
class Logto:
    client: FlaskClient
    m2m: str

    def api(self, method: str, path: str, **kwargs: Any) -> TestResponse:
        headers = {"Authorization": f"Bearer {self.m2m}", **kwargs.pop("headers", {})}
        return self.client.open(f"/api{path}", method=method, headers=headers, **kwargs)

    def mint(self, kind: str, user: str | None = None, org: str | None = None, **extra: Any) -> dict[str, Any]:
        body = {"kind": kind, "organizationId": org, **extra}
        if user is not None:
            body["userId"] = user
        response = self.client.post("/__dev/tokens", json=body)
        assert response.status_code == 200, response.get_data(as_text=True)
        return claims(response.get_json()["token"])

    def scope(self, kind: str, user: str | None = None, org: str | None = None, **extra: Any) -> set[str]:
        return set(self.mint(kind, user, org, **extra)["scope"].split())

    def role_id(self, name: str) -> str:
        roles = self.api("GET", "/organization-roles", query_string={"page_size": 100}).get_json()
        return next(r["id"] for r in roles if r["name"] == name)

    def add_role(self, name: str, org_permissions: list[str], api_permissions: list[str]) -> str:
        """An organization role made by hand in Logto Console (POST /organization-roles with both namespaces)."""
        org_scopes = {s["name"]: s["id"] for s in self.api("GET", "/organization-scopes").get_json()}
        resource = next(r for r in self.api("GET", "/resources").get_json() if r["indicator"] == API_RESOURCE)
        api_scopes = {s["name"]: s["id"] for s in self.api("GET", f"/resources/{resource['id']}/scopes").get_json()}
        body = {
            "name": name,
            "organizationScopeIds": [org_scopes[p] for p in org_permissions],
            "resourceScopeIds": [api_scopes[p] for p in api_permissions],
        }
        created = self.api("POST", "/organization-roles", json=body)
        assert created.status_code == 201, created.get_data(as_text=True)
        return created.get_json()["id"]

    def join(self, org: str, user: str, *roles: str) -> None:
        assert self.api("POST", f"/organizations/{org}/users", json={"userIds": [user]}).status_code == 201
        if roles:
            ids = [self.role_id(r) for r in roles]
            body = {"userIds": [user], "organizationRoleIds": ids}
            assert self.api("POST", f"/organizations/{org}/users/roles", json=body).status_code == 201


@pytest.fixture
def logto(tmp_path) -> Logto:
    app = create_app(
        tmp_path, issuer_base="http://logto.test", management_resource=MANAGEMENT, api_resource=API_RESOURCE
    )
    client = app.test_client()
    basic = base64.b64encode(f"{M2M_APP_ID}:{M2M_APP_SECRET}".encode()).decode()
    token = client.post(
        "/oidc/token",
        data={"grant_type": "client_credentials", "resource": MANAGEMENT, "scope": "all"},
        headers={"Authorization": f"Basic {basic}"},
    ).get_json()["access_token"]
    return Logto(client, token)
