"""Logto round trips per route and token kind, counted against the in-process stand-in (issue 22).

`CallRecorder` wraps the stand-in's WSGI app: while recording, every Management API request is held `delay` seconds
and its start and end are numbered in one sequence. Calls made side by side then overlap, calls made one after the
other do not, and the **sequential round trips** of a request are its longest chain of calls each starting after the
previous one ended. The figures are counts (of calls, of a chain's length), never durations: the delay only makes
concurrency visible, whatever the machine's speed.

`SCENARIOS` is every route with each token kind it takes, a request that succeeds, and the minimum the contract
allows (a warm container: M2M token, API resource id and, for GET /roles, the role list cached; LIVE_PERMISSIONS
=writes; INVITATION_LINK set). Used by tests/unit/test_round_trips.py (the guard) and bench/run.py (the table).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.logto.credentials import M2M_APP_ID, M2M_APP_SECRET

ROOT = Path(__file__).resolve().parents[2]
DEMO = "demo0org0001"
ALL = "org:create org:update org:delete member:read member:add member:remove role:assign member:invite audit:read"


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    query: str
    started: int
    ended: int


class CallRecorder:
    """WSGI middleware numbering each Management API request's start and end (see the module's docstring)."""

    def __init__(self, app: Any, delay: float = 0.15):
        self.app, self.delay = app, delay
        self.calls: list[Call] = []
        self.recording = False
        self._ticks = itertools.count()
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not (self.recording and environ.get("PATH_INFO", "").startswith("/api/")):
            return self.app(environ, start_response)
        method, path, query = environ["REQUEST_METHOD"], environ["PATH_INFO"], environ.get("QUERY_STRING", "")
        return self._timed(method, path, query, lambda: list(self.app(environ, start_response)))

    def _timed(self, method: str, path: str, query: str, call: Callable[[], Any]) -> Any:
        with self._lock:
            started = next(self._ticks)
        time.sleep(self.delay)
        try:
            return call()
        finally:
            with self._lock:
                self.calls.append(Call(method, path, query, started, next(self._ticks)))

    def record(self, action: Callable[[], Any], *, aws: bool = False) -> tuple[Any, list[Call]]:
        """Run `action`, recording its Management API calls; `aws`: its AWS calls too (DynamoDB, EventBridge, as
        method "AWS"), held and numbered alike, so one chain counts both kinds of round trip."""
        from unittest import mock

        from botocore.client import BaseClient

        make_api_call = BaseClient._make_api_call
        recorder = self

        def timed_api_call(client: Any, operation: str, params: Any) -> Any:
            service = client.meta.service_model.service_name
            return recorder._timed(
                "AWS", f"{service}.{operation}", "", lambda: make_api_call(client, operation, params)
            )

        self.calls, self.recording = [], True
        try:
            with mock.patch.object(BaseClient, "_make_api_call", timed_api_call) if aws else contextlib.nullcontext():
                result = action()
        finally:
            self.recording = False
        return result, sorted(self.calls, key=lambda c: c.started)


def sequential_round_trips(calls: list[Call]) -> int:
    """The longest chain of calls, each starting after the one before it ended."""
    depth: list[int] = []
    for i, call in enumerate(calls):
        depth.append(1 + max((depth[j] for j in range(i) if calls[j].ended < call.started), default=0))
    return max(depth, default=0)


def logto_calls(calls: list[Call]) -> list[Call]:
    return [c for c in calls if c.method != "AWS"]


def reads_made_twice(calls: list[Call]) -> list[str]:
    seen, twice = set(), []
    for call in calls:
        key = f"{call.method} {call.path}?{call.query}"
        if call.method == "GET" and key in seen:
            twice.append(key)
        seen.add(key)
    return twice


# -- requests ----------------------------------------------------------------------------------------------------------
def authorizer_context(kind: str, sub: str = "alice", org: str = DEMO, scopes: str = ALL) -> dict[str, str]:
    return {
        "principalId": sub,
        "sub": sub,
        "clientId": "spa",
        "organizationId": "" if kind == "global_api" else org,
        "scopes": scopes,
        "tokenKind": kind,
        "exp": "4102444800",
    }


def event(name: str, kind: str, *, sub: str = "alice", path: dict[str, str] | None = None, body: Any = None):
    base = json.loads((ROOT / "events" / f"{name}.json").read_text())
    base["headers"] = {"Content-Type": "application/json"}  # no Idempotency-Key: the plain create
    base["multiValueHeaders"] = {}
    if "requestContext" in base and kind:
        org = (path or {}).get("organizationId", DEMO)
        base["requestContext"]["authorizer"] = authorizer_context(kind, sub, org)
    if path:
        base["pathParameters"].update(path)
    if body is not None:
        base["body"] = json.dumps(body)
    return base


class Setup:
    """What a scenario needs in the stand-in before it runs, made through its test client (never recorded)."""

    def __init__(self, logto: Any, database: Path):
        self.client = logto.client
        # alice gets a second global role (dave's `partner`: org:create of ANOTHER API, so it grants nothing here), so
        # that reading her global roles' permissions is more than one call, and those calls must go side by side.
        with sqlite3.connect(database) as db:
            db.execute("INSERT INTO users_roles SELECT 'alice', id FROM roles WHERE name = 'partner'")
        basic = base64.b64encode(f"{M2M_APP_ID}:{M2M_APP_SECRET}".encode()).decode()
        answer = self.client.post(
            "/oidc/token",
            data={"grant_type": "client_credentials", "resource": "https://default.logto.app/api", "scope": "all"},
            headers={"Authorization": f"Basic {basic}"},
        ).get_json()
        self.headers = {"Authorization": f"Bearer {answer['access_token']}"}
        self.counter = itertools.count()

    def api(self, method: str, path: str, body: Any = None) -> Any:
        response = self.client.open(f"/api{path}", method=method, json=body, headers=self.headers)
        return response.get_json(silent=True)

    def role_id(self, name: str) -> str:
        return next(r["id"] for r in self.api("GET", "/organization-roles?page=1&page_size=100") if r["name"] == name)

    def member(self, user: str, role: str = "member", org: str = DEMO) -> None:
        self.api("POST", f"/organizations/{org}/users", {"userIds": [user]})
        self.api(
            "POST",
            f"/organizations/{org}/users/roles",
            {"userIds": [user], "organizationRoleIds": [self.role_id(role)]},
        )

    def not_member(self, user: str, org: str = DEMO) -> None:
        self.api("DELETE", f"/organizations/{org}/users/{user}")

    def invitation(self, invitee: str, org: str = DEMO) -> str:
        expires = int(time.time() * 1000) + 86_400_000
        body = {"invitee": invitee, "organizationId": org, "expiresAt": expires, "messagePayload": False}
        return self.api("POST", "/organization-invitations", body)["id"]

    def organization_of_alice(self) -> str:
        org = self.api("POST", "/organizations", {"name": f"Round trips {next(self.counter)}"})["id"]
        self.member("alice", "admin", org)
        return org


@dataclass(frozen=True)
class Scenario:
    route: str
    kind: str
    minimum: int  # sequential Logto round trips the contract allows
    build: Callable[[Setup], dict[str, Any]] = field(repr=False)
    why: str = ""

    @property
    def id(self) -> str:
        return f"{self.route}-{self.kind}"


def _org_kinds(route: str, org: int, api: int, build: Callable[[Setup, str], dict[str, Any]], why: str = ""):
    """Both organization token kinds. An organization API token's live reads take one round trip more: the user's
    global roles (beside the organization's reads), then those roles' permissions (side by side)."""
    return [
        Scenario(route, "organization", org, lambda s: build(s, "organization"), why.replace("{live}", LIVE)),
        Scenario(
            route, "organization_api", api, lambda s: build(s, "organization_api"), why.replace("{live}", LIVE_API)
        ),
    ]


def _revoke(s: Setup, kind: str) -> dict[str, Any]:
    invitation = s.invitation(f"revoke{next(s.counter)}@example.com")
    return event("revoke_invitation", kind, path={"invitationId": invitation})


def _own_invitation(route: str) -> Callable[[Setup], dict[str, Any]]:
    def build(s: Setup) -> dict[str, Any]:
        invitation = s.invitation("dave@example.com", s.organization_of_alice())  # (one pending per organization)
        return event(route, "global_api", sub="dave", path={"invitationId": invitation})

    return build


def _my_invitations(s: Setup) -> dict[str, Any]:
    s.invitation("dave@example.com", s.organization_of_alice())  # a second organization, beside demo0invite1's
    return event("list_own_invitations", "global_api", sub="dave")


def _add(s: Setup, kind: str) -> dict[str, Any]:
    s.not_member("carol")
    return event("add_members", kind, body={"userIds": ["carol"], "roleNames": ["member"]})


def _remove(s: Setup, kind: str) -> dict[str, Any]:
    s.member("bob")
    return event("remove_member", kind, path={"userId": "bob"})


def _replace(s: Setup, kind: str) -> dict[str, Any]:
    s.member("bob")
    return event("replace_member_roles", kind, path={"userId": "bob"}, body={"roleNames": ["member"]})


def _leave(s: Setup, kind: str) -> dict[str, Any]:
    s.member("bob")
    return event("leave_organization", kind, sub="bob")


def _delete(s: Setup, kind: str) -> dict[str, Any]:
    return event("delete_organization", kind, path={"organizationId": s.organization_of_alice()})


def _simple(route: str, body: Any = None, **path: str) -> Callable[[Setup, str], dict[str, Any]]:
    return lambda s, kind: event(route, kind, path=path or None, body=body)


LIVE = "live reads (role list, my roles)"
LIVE_API = "live reads (role list, my roles, my global roles; then their permissions)"
SCENARIOS: list[Scenario] = [
    Scenario("health", "", 0, lambda s: event("health", "")),
    Scenario(
        "create_organization",
        "global_api",
        5,
        lambda s: event("create_organization", "global_api", body={"name": f"New {next(s.counter)}"}),
        "my global roles, then their permissions; create; add me; give me the creator role",
    ),
    Scenario(
        "create_organization",
        "organization",
        4,
        lambda s: event("create_organization", "organization", body={"name": f"New {next(s.counter)}"}),
        f"{LIVE}; create; add me; give me the creator role",
    ),
    Scenario("list_organizations", "global_api", 1, lambda s: event("list_organizations", "global_api")),
    *_org_kinds("get_organization", 1, 1, _simple("get_organization")),
    *_org_kinds("update_organization", 2, 3, _simple("update_organization", {"description": "x"}), "{live}; PATCH"),
    *_org_kinds("delete_organization", 2, 3, _delete, "{live}; DELETE"),
    *_org_kinds("list_members", 1, 1, _simple("list_members")),
    # Limits (issue 21) may add one round trip to a write: the count read from Logto under the organization's lease.
    *_org_kinds(
        "add_members",
        5,
        6,
        _add,
        "{live}; under the lease: who is a member already; the member count (limit); add; give the roles",
    ),
    *_org_kinds(
        "remove_member", 3, 4, _remove, "{live}; under the lease: the creator holders beside their roles; DELETE"
    ),
    *_org_kinds(
        "replace_member_roles",
        3,
        4,
        _replace,
        "{live}; under the lease: the creator holders beside their roles; PUT",
    ),
    *_org_kinds("list_roles", 0, 0, _simple("list_roles"), "the role list, cached for ROLE_CACHE_SECONDS"),
    *_org_kinds("list_invitations", 1, 1, _simple("list_invitations")),
    *_org_kinds(
        "create_invitation",
        4,
        5,
        lambda s, kind: event("create_invitation", kind, body={"invitee": f"i{next(s.counter)}@example.com"}),
        "{live}; the pending invitations (limit); create; e-mail it (needs its id)",
    ),
    *_org_kinds("revoke_invitation", 2, 3, _revoke, "{live} beside the invitation; revoke"),
    *_org_kinds(
        "send_invitation_message",
        2,
        3,
        _simple("send_invitation_message", invitationId="demo0invite1"),
        "{live} beside the invitation; send",
    ),
    Scenario(
        "list_own_invitations",
        "global_api",
        3,
        _my_invitations,
        "my e-mail; invitations to it; their organizations' names side by side",
    ),
    Scenario(
        "accept_invitation",
        "global_api",
        4,
        _own_invitation("accept_invitation"),
        "my e-mail beside the invitation; am I a member already; the member count (limit); accept",
    ),
    Scenario(
        "decline_invitation",
        "global_api",
        2,
        _own_invitation("decline_invitation"),
        "my e-mail beside the invitation; decline",
    ),
    *_org_kinds("get_own_membership", 1, 2, _simple("get_own_membership"), "{live}"),
    *_org_kinds("list_audit", 1, 2, _simple("list_audit"), "{live} (then the audit table: DynamoDB, not Logto)"),
    *_org_kinds("leave_organization", 3, 4, _leave, "{live}; under the lease: the creator holders; DELETE"),
]
