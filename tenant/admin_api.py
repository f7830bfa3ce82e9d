"""The Management API as the setup uses it: an M2M token, JSON requests, every list read page by page.

Requests go through a `Transport` (requests over the network; the stand-in's Flask test client when it seeds
itself), so the same code serves a real tenant, the local stand-in and the tests.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

PAGE_SIZE = 100  # Logto's largest page (koa-pagination.ts: page_size <= 100)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: Any  # parsed JSON, or None


class Transport(Protocol):
    def __call__(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        params: dict[str, Any] | None = None,
        json: Any = None,
        form: dict[str, str] | None = None,
    ) -> Reply: ...


class SetupError(Exception):
    """A failure the user fixes (bad endpoint, credentials, access): one line, never a secret or a Logto body."""


class ApiFailure(SetupError):
    def __init__(self, method: str, path: str, reply: Reply):
        code = reply.body.get("code") if isinstance(reply.body, dict) else None
        # Only Logto's error code: its message may echo input, and the body is never printed verbatim.
        super().__init__(f"{method} /api{path} answered {reply.status}{f' {code}' if code else ''}")
        self.status, self.code = reply.status, code


def requests_transport(endpoint: str, timeout: float = 15.0) -> Transport:
    """Over HTTP with requests: it asks for gzip (Logto compresses answers of 1 KB or more) and decodes it."""
    import requests

    session = requests.Session()
    base = endpoint.rstrip("/")

    def send(
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        params: dict[str, Any] | None = None,
        json: Any = None,
        form: dict[str, str] | None = None,
    ) -> Reply:
        try:
            response = session.request(
                method, base + path, headers=headers, params=params, json=json, data=form, timeout=timeout
            )
        except requests.RequestException as exc:
            raise SetupError(f"cannot reach Logto at {base} ({type(exc).__name__})") from None
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        return Reply(response.status_code, dict(response.headers), body)

    return send


@dataclass
class AdminApi:
    """Management API calls with an M2M token; counts its write requests (a second APPLY must send none)."""

    transport: Transport
    app_id: str
    app_secret: str = field(repr=False)
    management_resource: str = "https://default.logto.app/api"
    writes: int = 0
    token: str = field(default="", repr=False)
    on_write: Callable[[str, str], None] | None = None  # tests inject failures here

    def sign_in(self) -> None:
        """Client credentials for the Management API (`scope=all`). Refusals become one line each."""
        basic = base64.b64encode(f"{quote(self.app_id, safe='')}:{quote(self.app_secret, safe='')}".encode()).decode()
        reply = self.transport(
            "POST",
            "/oidc/token",
            headers={"Authorization": f"Basic {basic}"},
            form={"grant_type": "client_credentials", "resource": self.management_resource, "scope": "all"},
        )
        body = reply.body if isinstance(reply.body, dict) else {}
        if reply.status == 404 or not body:
            raise SetupError(
                f"no Logto token endpoint there (HTTP {reply.status} from /oidc/token): check LOGTO_ENDPOINT"
            )
        error = body.get("error") or body.get("code")
        if error in ("invalid_client", "oidc.invalid_client"):
            raise SetupError("Logto refused the app's credentials (invalid_client): check LOGTO_M2M_APP_ID and _SECRET")
        if error in ("invalid_target", "oidc.invalid_target"):
            raise SetupError(
                f"Logto does not know the Management API resource {self.management_resource} (invalid_target): "
                "set LOGTO_MANAGEMENT_API_RESOURCE"
            )
        if reply.status != 200 or not isinstance(body.get("access_token"), str):
            raise SetupError(f"Logto's token endpoint answered {reply.status} {error or ''}".rstrip())
        # An app without the "Logto Management API access" role gets a token without `all` (logto-observed.md).
        if "all" not in str(body.get("scope", "")).split():
            raise SetupError(
                "the app has no Management API access: give it the role 'Logto Management API access' in Logto Console"
            )
        self.token = body["access_token"]

    def call(self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None) -> Reply:
        if method != "GET":
            if self.on_write is not None:
                self.on_write(method, path)
            self.writes += 1
        reply = self.transport(
            method, f"/api{path}", headers={"Authorization": f"Bearer {self.token}"}, params=params, json=json
        )
        if reply.status in (401, 403):
            raise SetupError(
                f"Logto refused the Management API call ({reply.status}): the app needs the role "
                "'Logto Management API access'"
            )
        if reply.status >= 300:
            raise ApiFailure(method, path, reply)
        return reply

    def write(self, method: str, path: str, json: Any = None) -> Any:
        return self.call(method, path, json=json).body

    def all(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a list, page by page until Total-Number is reached (or a short page ends it)."""
        page, seen = 1, 0
        while True:
            reply = self.call("GET", path, params={**params, "page": page, "page_size": PAGE_SIZE})
            items = reply.body if isinstance(reply.body, list) else []
            yield from items
            seen += len(items)
            total = {k.lower(): v for k, v in reply.headers.items()}.get("total-number", "")
            if len(items) < PAGE_SIZE or (total.isdigit() and seen >= int(total)):
                return
            page += 1
