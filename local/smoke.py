"""`make smoke`: the service's whole story against a Logto tenant, with real tokens from that tenant, in a minute.

  LOGTO_ENDPOINT=https://<tenant>.logto.app LOGTO_M2M_APP_ID=... LOGTO_M2M_APP_SECRET=... API_RESOURCE=... \\
    make smoke [API=https://<api-id>.execute-api.<region>.amazonaws.com/Prod]

It creates throwaway users (and, unless SMOKE_APP_ID/SMOKE_APP_SECRET name one, a throwaway first-party application
allowed token exchange), gets them real tokens from the tenant (`POST /api/subject-tokens`, then the token endpoint's
token-exchange grant with `organization_id` and/or `resource`), runs every route of the contract (the route table,
orgapi/contract/routes.py) plus the escalation, stale-token and path-trick probes, and removes everything it created, also when
interrupted (Ctrl-C, SIGTERM). One line per check, a summary; exit 1 on any failure. Tokens and secrets are never
printed; Logto's answers neither (only statuses and this API's error codes).

Settings (environment): LOGTO_ENDPOINT, LOGTO_M2M_APP_ID, LOGTO_M2M_APP_SECRET (an app with Management API access;
it also issues the subject tokens), API_RESOURCE, optional LOGTO_MANAGEMENT_API_RESOURCE, CREATOR_ROLE (admin),
SMOKE_MEMBER_ROLE (member: a role below the creator role), SMOKE_APP_ID + SMOKE_APP_SECRET (an app with
`customClientMetadata.allowTokenExchange`), PERMISSION_OVERRIDES (as deployed). API: a deployed stack's URL; without
it a `make local` is started against the tenant for the run. With LOGTO_ENDPOINT unset everything runs against the
built-in stand-in: the running `make local` (LOCAL_DATA honoured), else one started for the run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
TIMEOUT = 30
# Paths that must never reach another Management API route (CONTRACT.md "Path ids are plain ids"): each is sent as
# written, not normalised by the client (`..` would otherwise be resolved before it leaves).
PATH_TRICKS = (
    "%2E%2E",
    "members/%2E%2E",
    "members/%2e%2e",
    "members/..",
    "members/.",
    "members/%2E",
    "members/%2E%2E%2F%2E%2E",
    "members/..%2F..",
    "members/a%2Fb",
    "members/%2E%2E/",
    "invitations/%2E%2E",
    "invitations/..",
)


class Abort(Exception):
    """A step every later check depends on failed: stop, clean up, exit 1."""


def _code(response: requests.Response) -> str:
    """This API's error code (never a Logto body: our API does not pass those through)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("code", "")) if isinstance(body, dict) else ""


def _oauth_error(response: requests.Response) -> str:
    """The OAuth `error` of a token-endpoint refusal (a fixed word such as `invalid_target`, nothing the caller sent)."""
    try:
        error = response.json().get("error", "")
    except (ValueError, AttributeError):
        return ""
    return error if isinstance(error, str) and error.replace("_", "").isalpha() else ""


def _ids(items: Any) -> set[str]:
    return {i.get("id") for i in items if isinstance(i, dict)} if isinstance(items, list) else set()


@dataclass
class Tenant:
    """The Logto tenant, through its Management API with the M2M app (set-up, tokens, clean-up)."""

    endpoint: str
    app_id: str
    app_secret: str
    management_resource: str
    api_resource: str
    http: requests.Session = field(default_factory=requests.Session)
    _token: str | None = None

    def token(self) -> str:
        if self._token is None:
            answer = self.http.post(
                f"{self.endpoint}/oidc/token",
                data={"grant_type": "client_credentials", "resource": self.management_resource, "scope": "all"},
                auth=(self.app_id, self.app_secret),
                timeout=TIMEOUT,
            )
            if answer.status_code != 200:
                raise Abort(f"the M2M app got no Management API token ({answer.status_code})")
            self._token = answer.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {self.token()}"}
        return self.http.request(method, f"{self.endpoint}/api{path}", headers=headers, timeout=TIMEOUT, **kwargs)

    def must(self, method: str, path: str, expected: int, what: str, **kwargs: Any) -> Any:
        answer = self.api(method, path, **kwargs)
        if answer.status_code != expected:
            raise Abort(f"{what}: Logto answered {answer.status_code}")
        return answer.json() if answer.headers.get("Content-Type", "").startswith("application/json") else None

    def exchange(
        self,
        client: tuple[str, str],
        user_id: str,
        *,
        organization: str | None = None,
        resource: bool = False,
        scope: str = "",
    ) -> requests.Response:
        """A user token the way an app gets one without a browser: a subject token, then the token-exchange grant."""
        subject = self.must("POST", "/subject-tokens", 201, "subject token", json={"userId": user_id})["subjectToken"]
        form = {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": subject,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "scope": scope,
            **({"organization_id": organization} if organization else {}),
            **({"resource": self.api_resource} if resource else {}),
        }
        return self.http.post(f"{self.endpoint}/oidc/token", data=form, auth=client, timeout=TIMEOUT)


class Smoke:
    def __init__(self, tenant: Tenant, api: str, creator_role: str, member_role: str, overrides: dict[str, str]):
        self.tenant, self.api_url = tenant, api.rstrip("/")
        self.creator_role, self.member_role = creator_role, member_role
        self.create_permission = overrides.get("org:create", "org:create")
        self.http = requests.Session()
        self.run_id = secrets.token_hex(4)
        self.passed = self.failed = 0
        self.covered: set[str] = set()
        # what this run created in the tenant, removed by cleanup()
        self.users: dict[str, str] = {}
        self.organizations: list[str] = []
        self.application: str | None = None
        self.client: tuple[str, str] | None = None
        self.all_scopes = ""

    # -- output ------------------------------------------------------------------------------------------------------
    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print(f"{'ok  ' if ok else 'FAIL'} {name}{f': {detail}' if detail else ''}", flush=True)
        return ok

    def route(self, route: str, answer: requests.Response, expected: int, note: str = "") -> bool:
        """One route of the contract, called with its documented success status expected."""
        self.covered.add(route)
        got = f"{answer.status_code} {_code(answer)}".strip()
        ok = answer.status_code == expected
        return self.check(route, ok, note if ok else f"expected {expected}, got {got}{f' ({note})' if note else ''}")

    def refused(self, name: str, answer: requests.Response, statuses: tuple[int, ...] = (403,)) -> bool:
        got = f"{answer.status_code} {_code(answer)}".strip()
        return self.check(name, answer.status_code in statuses, got)

    # -- calls -------------------------------------------------------------------------------------------------------
    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, f"{self.api_url}{path}", headers=headers, timeout=TIMEOUT, **kwargs)

    def raw(self, method: str, path: str, token: str) -> int:
        """A request whose path goes out byte for byte as written (no dot-segment removal by the client)."""
        parts = urlsplit(self.api_url)
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = kind(parts.netloc, timeout=TIMEOUT)
        try:
            connection.request(method, parts.path + path, headers={"Authorization": f"Bearer {token}"})
            return connection.getresponse().status
        finally:
            connection.close()

    def token(
        self, user: str, *, organization: str | None = None, resource: bool = False, scope: str | None = None
    ) -> str:
        assert self.client is not None
        answer = self.tenant.exchange(
            self.client,
            self.users[user],
            organization=organization,
            resource=resource,
            scope=self.all_scopes if scope is None else scope,
        )
        if answer.status_code != 200:
            raise Abort(
                f"token exchange for {user}: Logto answered {answer.status_code} {_oauth_error(answer)}".strip()
            )
        return answer.json()["access_token"]

    # -- set-up ------------------------------------------------------------------------------------------------------
    def set_up(self) -> None:
        tenant = self.tenant
        roles = tenant.must("GET", "/organization-roles", 200, "organization roles", params={"page_size": 100})
        names = {r["name"] for r in roles}
        for role in (self.creator_role, self.member_role):
            if role not in names:
                raise Abort(f"the tenant has no organization role {role!r} (README: Deploy, step 1)")
        permissions = {s["name"] for r in roles for s in [*r.get("scopes", []), *r.get("resourceScopes", [])]}
        self.all_scopes = " ".join(sorted(permissions | {self.create_permission}))
        creator_global_role = self._global_role_with_create()
        if os.environ.get("SMOKE_APP_ID"):
            self.client = (os.environ["SMOKE_APP_ID"], os.environ.get("SMOKE_APP_SECRET", ""))
        else:
            app = tenant.must(
                "POST",
                "/applications",
                200,
                "creating the throwaway application",
                json={
                    "name": f"orgapi smoke {self.run_id}",
                    "type": "Traditional",
                    "description": "Created by `make smoke`; removed at its end",
                    # never used, but an app that may sign users in is refused by the token endpoint without one
                    "oidcClientMetadata": {
                        "redirectUris": ["http://localhost/orgapi-smoke"],
                        "postLogoutRedirectUris": [],
                    },
                    "customClientMetadata": {"allowTokenExchange": True},
                },
            )
            self.application = app["id"]
            secret = tenant.must("GET", f"/applications/{app['id']}/secrets", 200, "the application's secret")
            if not secret:
                raise Abort("the throwaway application has no secret")
            self.client = (app["id"], secret[0]["value"])
        for user in ("owner", "peer", "invitee", "decliner", "outsider"):
            created = tenant.must(
                "POST",
                "/users",
                200,
                f"creating the throwaway user {user}",
                json={
                    "username": f"smoke_{self.run_id}_{user}",
                    "primaryEmail": f"smoke-{self.run_id}-{user}@example.com",
                    "name": f"Smoke {user}",
                },
            )
            self.users[user] = created["id"]
        tenant.must(
            "POST", f"/users/{self.users['owner']}/roles", 201, "global role", json={"roleIds": [creator_global_role]}
        )
        print(f"set-up: 5 throwaway users, run {self.run_id}", flush=True)

    def _global_role_with_create(self) -> str:
        """A global role carrying the create permission of API_RESOURCE (README: Deploy, step 1)."""
        for role in self.tenant.must("GET", "/roles", 200, "global roles", params={"page_size": 100}):
            if role.get("type", "User") != "User":
                continue
            scopes = self.tenant.must("GET", f"/roles/{role['id']}/scopes", 200, "a global role's permissions")
            if any(
                s["name"] == self.create_permission
                and s.get("resource", {}).get("indicator") == self.tenant.api_resource
                for s in scopes
            ):
                return role["id"]
        raise Abort(f"no global role gives {self.create_permission} of {self.tenant.api_resource} (README: Deploy)")

    # -- the story ---------------------------------------------------------------------------------------------------
    def run(self) -> None:
        self.route("health", self.call("GET", "/health"), 200)
        self.set_up()
        compressed = self.tenant.api(
            "GET", "/organization-roles", params={"page_size": 100}, headers={"Accept-Encoding": "gzip"}
        )
        print(f"info Logto compresses answers: {compressed.headers.get('Content-Encoding') or 'no'}", flush=True)
        organization = self.create_organization()
        self.organization_routes(organization)
        self.invitations(organization)
        self.path_tricks(organization)
        owner = self.token("owner", organization=organization)
        self.route("delete_organization", self.call("DELETE", f"/organizations/{organization}", owner), 204)
        gone = self.tenant.api("GET", f"/organizations/{organization}")
        self.check("deleted organization is gone from Logto", gone.status_code == 404, str(gone.status_code))

    def create_organization(self) -> str:
        owner_global = self.token("owner", resource=True)
        key = f"smoke-{self.run_id}"
        body = {"name": f"smoke {self.run_id}", "description": "Created by make smoke"}
        first = self.call("POST", "/organizations", owner_global, json=body, headers={"Idempotency-Key": key})
        if self.route("create_organization", first, 201, "global API token, org:create from a global role"):
            organization = first.json()["id"]
            self.organizations.append(organization)
            again = self.call("POST", "/organizations", owner_global, json=body, headers={"Idempotency-Key": key})
            same = again.status_code in (200, 201) and again.json().get("id") == organization
            if not same and again.status_code in (200, 201):
                self.organizations.append(again.json().get("id"))
            self.check(
                "create_organization repeated with its Idempotency-Key: the same organization",
                same,
                str(again.status_code),
            )
            roles = self.tenant.api("GET", f"/organizations/{organization}/users/{self.users['owner']}/roles")
            self.check(
                f"the creator holds {self.creator_role}",
                roles.status_code == 200 and self.creator_role in {r["name"] for r in roles.json()},
                str(roles.status_code),
            )
        else:
            # Carry on with an organization made directly in Logto, so every other route still gets its check.
            organization = self.tenant.must("POST", "/organizations", 201, "fallback organization", json=body)["id"]
            self.organizations.append(organization)
            self._join(organization, "owner", self.creator_role)
        listed = self.call("GET", "/organizations", owner_global)
        self.route("list_organizations", listed, 200)
        self.check("list_organizations shows it", organization in _ids(listed.json() if listed.ok else []))
        return organization

    def _join(self, organization: str, user: str, role: str) -> None:
        self.tenant.must(
            "POST", f"/organizations/{organization}/users", 201, "membership", json={"userIds": [self.users[user]]}
        )
        role_ids = [
            r["id"]
            for r in self.tenant.must("GET", "/organization-roles", 200, "roles", params={"page_size": 100})
            if r["name"] == role
        ]
        self.tenant.must(
            "POST",
            f"/organizations/{organization}/users/roles",
            201,
            "membership role",
            json={"userIds": [self.users[user]], "organizationRoleIds": role_ids},
        )

    def organization_routes(self, org: str) -> None:
        base = f"/organizations/{org}"
        owner = self.token("owner", organization=org)
        owner_api = self.token("owner", organization=org, resource=True)
        self.route("get_organization", self.call("GET", base, owner), 200, "organization token")
        self.check(
            "get_organization with an organization API token", self.call("GET", base, owner_api).status_code == 200
        )
        patched = self.call("PATCH", base, owner, json={"description": f"smoke {self.run_id}"})
        self.route("update_organization", patched, 200)
        listed_roles = self.call("GET", f"{base}/roles", owner)
        self.route("list_roles", listed_roles, 200)
        role_names = {r.get("name") for r in listed_roles.json()} if listed_roles.ok else set()
        self.check("list_roles shows the creator and member roles", {self.creator_role, self.member_role} <= role_names)
        me = self.call("GET", f"{base}/members/me", owner)
        self.route("get_own_membership", me, 200)
        mine = {r.get("name") for r in me.json().get("organizationRoles", [])} if me.ok else set()
        self.check(f"get_own_membership: the owner is {self.creator_role} now", self.creator_role in mine)

        # escalation: a token narrowed to member:add cannot hand out the creator role
        narrow = self.token("owner", organization=org, scope="member:read member:add")
        grab = self.call(
            "POST",
            f"{base}/members",
            narrow,
            json={"userIds": [self.users["outsider"]], "roleNames": [self.creator_role]},
        )
        self.refused("escalation: granting a role above the token's own permissions is refused", grab)
        outsider_in = self.tenant.api("GET", f"{base}/users/{self.users['outsider']}/roles")
        self.check(
            "escalation: the outsider did not become a member",
            outsider_in.status_code == 422,
            str(outsider_in.status_code),
        )
        denied = self.tenant.exchange(
            self.client or ("", ""), self.users["outsider"], organization=org, scope=self.all_scopes
        )
        self.check(
            "an outsider gets no organization token from Logto", denied.status_code == 403, str(denied.status_code)
        )
        outsider_global = self.token("outsider", resource=True)
        self.refused(
            "an outsider's global token cannot read the organization",
            self.call("GET", base, outsider_global),
            (401, 403),
        )

        added = self.call(
            "POST", f"{base}/members", owner, json={"userIds": [self.users["peer"]], "roleNames": [self.creator_role]}
        )
        self.route("add_members", added, 201)
        members = self.call("GET", f"{base}/members", owner, params={"page": 1, "page_size": 20})
        self.route("list_members", members, 200)
        self.check(
            "list_members shows owner and peer, with Total-Number",
            {self.users["owner"], self.users["peer"]} <= _ids(members.json() if members.ok else [])
            and members.headers.get("Total-Number", "").isdigit(),
        )

        # stale tokens: the peer's token outlives the peer's role, then the membership; writes are refused
        peer = self.token("peer", organization=org)
        demoted = self.call(
            "PUT", f"{base}/members/{self.users['peer']}/roles", owner, json={"roleNames": [self.member_role]}
        )
        self.route("replace_member_roles", demoted, 200)
        stale = self.call("PATCH", base, peer, json={"description": "stale"})
        self.refused("stale token: a demoted member's still-valid token cannot update", stale)
        self.route("remove_member", self.call("DELETE", f"{base}/members/{self.users['peer']}", owner), 204)
        self.refused(
            "stale token: a removed member's still-valid token cannot update",
            self.call("PATCH", base, peer, json={"name": "stale"}),
        )
        self.refused(
            "stale token: a removed member has no membership", self.call("GET", f"{base}/members/me", peer), (403, 404)
        )
        audit = self.call("GET", f"{base}/audit", owner, params={"limit": 100})
        self.route("list_audit", audit, 200)
        actions = {e.get("action") for e in audit.json()} if audit.ok and isinstance(audit.json(), list) else set()
        expected = {"organization.updated", "member.added", "member.roles_replaced", "member.removed"}
        self.check(
            "list_audit records the changes made so far", expected <= actions, ", ".join(sorted(expected - actions))
        )
        still = self.tenant.api("GET", f"/organizations/{org}")
        self.check(
            "stale token: the organization is unchanged",
            still.status_code == 200 and still.json().get("description") == f"smoke {self.run_id}",
        )

    def invitations(self, org: str) -> None:
        base = f"/organizations/{org}/invitations"
        owner = self.token("owner", organization=org)
        made: dict[str, str] = {}
        for who in ("invitee", "decliner", "nobody"):
            answer = self.call(
                "POST",
                base,
                owner,
                json={"invitee": f"smoke-{self.run_id}-{who}@example.com", "roleNames": [self.member_role]},
            )
            if self.route("create_invitation", answer, 201, who):
                made[who] = answer.json()["id"]
        listed = self.call("GET", base, owner)
        self.route("list_invitations", listed, 200)
        self.check("list_invitations shows the three", set(made.values()) <= _ids(listed.json() if listed.ok else []))
        if "nobody" in made:
            message = self.call("POST", f"{base}/{made['nobody']}/message", owner)
            disabled = message.status_code == 422 and _code(message) == "invitation_email_disabled"
            self.covered.add("send_invitation_message")
            self.check(
                "send_invitation_message",
                message.status_code == 204 or disabled,
                "INVITATION_LINK not set: refused as documented"
                if disabled
                else f"{message.status_code} {_code(message)}",
            )
            self.route("revoke_invitation", self.call("DELETE", f"{base}/{made['nobody']}", owner), 204)
        if "invitee" in made:
            invitee = self.token("invitee", resource=True)
            own = self.call("GET", "/invitations", invitee)
            self.route("list_own_invitations", own, 200)
            self.check(
                "list_own_invitations shows the invitation", made["invitee"] in _ids(own.json() if own.ok else [])
            )
            self.route("accept_invitation", self.call("POST", f"/invitations/{made['invitee']}/accept", invitee), 200)
            joined = self.token("invitee", organization=org)
            me = self.call("GET", f"/organizations/{org}/members/me", joined)
            roles = {r.get("name") for r in me.json().get("organizationRoles", [])} if me.ok else set()
            self.check(
                f"accepting made the invitee a {self.member_role}", roles == {self.member_role}, str(me.status_code)
            )
            self.route("leave_organization", self.call("DELETE", f"/organizations/{org}/members/me", joined), 204)
        if "decliner" in made:
            decliner = self.token("decliner", resource=True)
            self.route(
                "decline_invitation", self.call("POST", f"/invitations/{made['decliner']}/decline", decliner), 200
            )

    def path_tricks(self, org: str) -> None:
        owner = self.token("owner", organization=org)
        before = self.tenant.api("GET", f"/organizations/{org}/users", params={"page_size": 100})
        for trick in PATH_TRICKS:
            status = self.raw("DELETE", f"/organizations/{org}/{trick}", owner)
            self.check(f"path trick DELETE …/{trick} is refused", not 200 <= status < 300, str(status))
        after = self.tenant.api("GET", f"/organizations/{org}/users", params={"page_size": 100})
        self.check(
            "path tricks: the organization still exists",
            self.tenant.api("GET", f"/organizations/{org}").status_code == 200,
        )
        self.check(
            "path tricks: nobody was removed",
            before.ok
            and after.ok
            and _ids(before.json()) == _ids(after.json())
            and self.users["owner"] in _ids(after.json()),
        )

    # -- the end -----------------------------------------------------------------------------------------------------
    def coverage(self, routes: list[str]) -> None:
        missing = [name for name in routes if name not in self.covered]
        self.check(
            "every route of the contract was called",
            not missing,
            f"not called: {', '.join(missing)}" if missing else "",
        )

    def cleanup(self) -> None:
        """Remove what this run created, whatever happened before; what cannot be removed is named (ids only)."""
        left: list[str] = []
        with suppress(requests.RequestException, Abort, ValueError):
            # one the service created while the run was stopped, before its answer named it
            named = self.tenant.api("GET", "/organizations", params={"q": f"smoke {self.run_id}", "page_size": 100})
            for organization in named.json() if named.status_code == 200 else []:
                if organization.get("name") == f"smoke {self.run_id}" and organization["id"] not in self.organizations:
                    self.organizations.append(organization["id"])
        for organization in self.organizations:
            with suppress(requests.RequestException, Abort):
                if self.tenant.api("DELETE", f"/organizations/{organization}").status_code in (204, 404):
                    continue
            left.append(f"organization {organization}")
        for name, user in self.users.items():
            with suppress(requests.RequestException, Abort):
                if self.tenant.api("DELETE", f"/users/{user}").status_code in (204, 404):
                    continue
            left.append(f"user {name} {user}")
        if self.application:
            with suppress(requests.RequestException, Abort):
                if self.tenant.api("DELETE", f"/applications/{self.application}").status_code in (204, 404):
                    self.application = None
            if self.application:
                left.append(f"application {self.application}")
        created = (
            len(self.organizations) + len(self.users) + (1 if self.client and not os.environ.get("SMOKE_APP_ID") else 0)
        )
        self.check(
            "clean-up: everything this run created is removed",
            not left,
            f"left behind: {', '.join(left)}" if left else f"{created} removed",
        )


# -- where to run ------------------------------------------------------------------------------------------------------
@contextmanager
def local_stack(external: bool) -> Iterator[dict[str, Any]]:
    """A `make local` for this run (local/harness.py, as the e2e tests start it): free ports, its own state folder,
    the tenant in LOGTO_ENDPOINT (external) or the stand-in; stopped again at the end."""
    from local import harness

    keep = ("LOGTO_ENDPOINT", "API_RESOURCE") if external else ()
    env = {name: os.environ[name] for name in keep if os.environ.get(name)}
    with tempfile.TemporaryDirectory(prefix="orgapi-smoke-") as data:
        try:
            running = harness.start(Path(data), env=env, workers=2, timeout=120)
        except harness.StackFailed as failed:
            raise Abort(f"`make local` did not start:\n{str(failed)[-2000:]}") from None
        try:
            print(f"started `make local` on {running.url} for this run", flush=True)
            yield running.info
        finally:
            running.stop(timeout=20)


@contextmanager
def target(api: str | None) -> Iterator[tuple[Tenant, str]]:
    """The tenant and the API to test, as the settings say."""
    if os.environ.get("LOGTO_ENDPOINT"):
        missing = [v for v in ("LOGTO_M2M_APP_ID", "LOGTO_M2M_APP_SECRET", "API_RESOURCE") if not os.environ.get(v)]
        if missing:
            raise Abort(f"LOGTO_ENDPOINT is set, so {', '.join(missing)} must be set too")
        sys.path.insert(0, str(ROOT / "layers" / "common"))
        from orgapi.base.config import default_management_api_resource

        endpoint = os.environ["LOGTO_ENDPOINT"].rstrip("/")
        tenant = Tenant(
            endpoint,
            os.environ["LOGTO_M2M_APP_ID"],
            os.environ["LOGTO_M2M_APP_SECRET"],
            os.environ.get("LOGTO_MANAGEMENT_API_RESOURCE") or default_management_api_resource(endpoint),
            os.environ["API_RESOURCE"],
        )
        if api:
            yield tenant, api
        else:
            with local_stack(external=True) as info:
                yield tenant, info["url"]
        return
    # The built-in stand-in, with its own M2M app (as `make token` finds it).
    from local.logto.credentials import M2M_APP_ID, M2M_APP_SECRET
    from local.serve import already_running

    def stand_in(info: dict[str, Any]) -> Tenant:
        return Tenant(info["logto"], M2M_APP_ID, M2M_APP_SECRET, "https://default.logto.app/api", info["apiResource"])

    running = already_running(Path(os.environ.get("LOCAL_DATA") or ROOT / ".local"))
    if running and not running.get("external"):
        print(f"using the running `make local` on {running['url']}", flush=True)
        yield stand_in(running), api or running["url"]
        return
    with local_stack(external=False) as info:
        yield stand_in(info), api or info["url"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", default=os.environ.get("API") or None, help="a deployed stack's URL (API)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "layers" / "common"))
    from orgapi.contract.routes import HEALTH_ROUTE, ROUTES

    def stop(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    smoke: Smoke | None = None
    interrupted = False
    try:
        with target(args.api) as (tenant, api):
            overrides = json.loads(os.environ.get("PERMISSION_OVERRIDES") or "{}")
            smoke = Smoke(
                tenant,
                api,
                os.environ.get("CREATOR_ROLE") or "admin",
                os.environ.get("SMOKE_MEMBER_ROLE") or "member",
                overrides,
            )
            try:
                smoke.run()
                smoke.coverage([r.name for r in (HEALTH_ROUTE, *ROUTES)])
            except Abort as problem:
                smoke.check("stopped", False, str(problem))
            except requests.RequestException as problem:
                smoke.check("connection", False, type(problem).__name__)
            except KeyboardInterrupt:
                interrupted = True
                print("interrupted: cleaning up", flush=True)
            finally:
                for stop_signal in (signal.SIGINT, signal.SIGTERM):  # the clean-up itself is not cut short
                    signal.signal(stop_signal, signal.SIG_IGN)
                smoke.cleanup()
    except Abort as problem:
        print(f"FAIL {problem}", flush=True)
        sys.exit(1)
    except KeyboardInterrupt:
        interrupted = True
    assert smoke is not None or interrupted
    failed = smoke.failed if smoke else 0
    passed = smoke.passed if smoke else 0
    print(f"smoke: {passed} passed, {failed} failed{' (interrupted)' if interrupted else ''}", flush=True)
    sys.exit(1 if failed or interrupted else 0)


if __name__ == "__main__":
    main()
