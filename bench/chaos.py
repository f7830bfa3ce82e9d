"""`make chaos`: a mixed workload through `make local` while the Logto stand-in injects faults at a set rate, then
the invariants checked against the stand-in's own state (its SQLite file), printed. Figures, not a timed test.

Starts the local stack (local.serve, as `make local` does) in a temporary folder on free ports, with the stand-in's
rate-based chaos mode on every Management API request: 429 with Retry-After, 500, 503, slow answers, and lost
answers (carried out, then answered 500 or the connection dropped). Several users act at once, each on the
organizations it created (so each change can be checked right after its answer): keyed and unkeyed creates (a keyed
create is retried with its key after a 5xx, as a client would), add members with and without roles, remove members,
replace roles, create, re-send and revoke invitations, reads, deletes. After the workload: faults off, the clean-up
function run (as its schedule would), and every invariant printed. All must be 0.

The stack runs with small limits (CHAOS_LIMITS; a MAX_… variable in the environment wins), so they are reached all
the time: every answer is checked against them (no breach), and at the end the places the rate limits hold in the
stack's table are compared with what happened (no leaked place: a refused or failed change gave its place back).

The audit trail too (orgapi.outcomes.audit): EventBridge fails at the same rate (the local AWS's fault switch), and afterwards
every acknowledged change must have exactly one audit entry (matched by action, organization and target), no entry may
exist for a change that was not acknowledged, and every entry's event must have reached the bus at least once (the
clean-up run publishes what EventBridge refused).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests

from local import harness  # (make chaos: PYTHONPATH=.:layers/common)
from orgapi.operations.limits import PLACE_PREFIX

ROOT = Path(__file__).resolve().parent.parent
CONTRACT_STATUSES = {200, 201, 202, 204, 400, 401, 403, 404, 409, 415, 422, 429, 502, 503, 504}
CREATOR_ROLE = "admin"
ACTORS = ["alice", "bob", "carol", "alice"]  # users who may create organizations (alice twice: two sessions)
TARGETS = ["dave", "erin", "bob", "carol", "alice"]
VICTIMS = ["chaos-victim-0@example.com", "Chaos-Victim-1@example.com"]  # invited again and again, across organizations
CHAOS_LIMITS = {
    "MAX_ORGS_CREATED_PER_USER_PER_DAY": 60,
    "MAX_MEMBERS_PER_ORG": 3,
    "MAX_PENDING_INVITATIONS_PER_ORG": 3,
    "MAX_INVITATION_EMAILS_PER_ORG_PER_DAY": 8,
    "MAX_INVITATION_EMAILS_PER_INVITEE_PER_DAY": 5,
}


def chaos_limits() -> dict[str, int]:
    return {name: int(os.environ.get(name) or default) for name, default in CHAOS_LIMITS.items()}


@dataclass
class Tally:
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    ack_missing: list = field(default_factory=list)
    failed_but_happened: list = field(default_factory=list)
    outside_contract: list = field(default_factory=list)
    server_errors_500: int = 0
    keyed_retries: int = 0
    failed_creates: list = field(default_factory=list)  # (name) checked after the clean-up run
    landed_later: list = field(default_factory=list)  # failed changes that showed up after the immediate check
    acked_creates: list = field(default_factory=list)  # (name, id, creator)
    acked_changes: Counter = field(default_factory=Counter)  # (action, organization, target) -> acknowledged answers
    # Acknowledged answers that may or may not have changed something (a PUT of the roles the member seemed to hold:
    # a change beside it may have made them differ by the time the service read them): an entry is allowed, not due.
    maybe_changes: Counter = field(default_factory=Counter)
    limit_breaches: list = field(default_factory=list)
    limit_answers: Counter = field(default_factory=Counter)  # 409 limit_reached / 429 rate_limited by route
    emails_unknown: Counter = field(default_factory=Counter)  # ("organization", id) / ("invitee", address): may be sent
    lock: threading.Lock = field(default_factory=threading.Lock)


class StandinState:
    """Reads the stand-in's SQLite directly: what Logto holds, without going through the faults."""

    def __init__(self, path: Path):
        self.path = path

    def _q(self, sql: str, *args) -> list[tuple]:
        for _ in range(50):
            try:
                with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5) as db:
                    return db.execute(sql, args).fetchall()
            except sqlite3.OperationalError:
                time.sleep(0.05)
        raise RuntimeError("stand-in database stays locked")

    def org_exists(self, org: str) -> bool:
        return bool(self._q("SELECT 1 FROM organizations WHERE id = ?", org))

    def orgs_named(self, name: str) -> list[str]:
        return [r[0] for r in self._q("SELECT id FROM organizations WHERE name = ?", name)]

    def roles(self, org: str, user: str) -> set[str] | None:
        if not self._q("SELECT 1 FROM members WHERE org_id = ? AND user_id = ?", org, user):
            return None
        rows = self._q(
            "SELECT r.name FROM member_roles m JOIN org_roles r ON r.id = m.role_id WHERE m.org_id = ? AND m.user_id = ?",
            org,
            user,
        )
        return {r[0] for r in rows}

    def invitee(self, invitation: str) -> str | None:
        rows = self._q("SELECT invitee FROM invitations WHERE id = ?", invitation)
        return rows[0][0] if rows else None

    def invitation_status(self, invitation: str) -> str | None:
        rows = self._q("SELECT status FROM invitations WHERE id = ?", invitation)
        return rows[0][0] if rows else None

    def pending_invitations(self, org: str, invitee: str) -> int:
        return len(
            self._q("SELECT 1 FROM invitations WHERE org_id = ? AND invitee = ? AND status = 'Pending'", org, invitee)
        )

    def member_count(self, org: str) -> int:
        return self._q("SELECT count(*) FROM members WHERE org_id = ?", org)[0][0]

    def pending_count(self, org: str) -> int:
        now = int(time.time() * 1000)
        return self._q(
            "SELECT count(*) FROM invitations WHERE org_id = ? AND status = 'Pending' AND expires_at > ?", org, now
        )[0][0]

    def orgs_without_creator(self, prefix: str) -> list[str]:
        return [
            r[0]
            for r in self._q(
                "SELECT o.id FROM organizations o WHERE o.name LIKE ? AND NOT EXISTS (SELECT 1 FROM member_roles m "
                "JOIN org_roles r ON r.id = m.role_id WHERE m.org_id = o.id AND r.name = ?)",
                f"{prefix}%",
                CREATOR_ROLE,
            )
        ]


class Actor:
    def __init__(
        self, index: int, user: str, api: str, logto: str, state: StandinState, tally: Tally, budget, seed, limits
    ):
        self.index, self.user, self.api, self.logto, self.state, self.tally = index, user, api, logto, state, tally
        self.limits = limits
        self.budget, self.rng = budget, random.Random(seed * 1000 + index)
        self.http = requests.Session()
        self.orgs: dict[str, str] = {}  # id -> organization token
        self.invitations: dict[str, list[str]] = {}  # org -> pending invitation ids we created
        self.global_token = self.mint("global_api")
        self.serial = 0
        # A change that failed must not show up later either (an answer that timed out while Logto still worked):
        # each failed change is checked again at the end, unless a later request touched the same thing.
        self.versions: Counter = Counter()
        self.later: list = []

    def touch(self, org: str, key: str) -> None:
        self.versions[(org, key)] += 1

    def recheck_later(self, org: str, key: str, label: str, unchanged) -> None:
        self.later.append((org, key, self.versions[(org, key)], self.versions[(org, "*")], label, unchanged))

    def late_landings(self) -> list[str]:
        return [
            label
            for org, key, version, org_version, label, unchanged in self.later
            if self.versions[(org, key)] == version and self.versions[(org, "*")] == org_version and not unchanged()
        ]

    def mint(self, kind: str, org: str | None = None) -> str:
        body = {"kind": kind, "userId": self.user, "organizationId": org}
        for _ in range(5):  # the stand-in's dev endpoint can trip over concurrent use of its SQLite file: retry
            response = self.http.post(f"{self.logto}/__dev/tokens", json=body, timeout=10)
            if response.status_code < 500:
                break
            time.sleep(0.2)
        response.raise_for_status()
        return response.json()["token"]

    def call(self, method: str, path: str, token: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        response = self.http.request(method, f"{self.api}{path}", headers=headers, timeout=60, **kwargs)
        with self.tally.lock:
            self.tally.requests += 1
            self.tally.statuses[response.status_code] += 1
            if response.status_code == 500:
                self.tally.server_errors_500 += 1
            if response.status_code not in CONTRACT_STATUSES:
                self.tally.outside_contract.append((method, path, response.status_code))
            else:
                try:
                    body = response.json() if response.content else None
                except ValueError:
                    self.tally.outside_contract.append((method, path, "not json"))
                    body = None
                if response.status_code >= 400 and not (isinstance(body, dict) and {"message", "code"} <= set(body)):
                    self.tally.outside_contract.append((method, path, "error shape"))
                code = body.get("code") if isinstance(body, dict) else None
                if code in ("limit_reached", "rate_limited") and response.status_code in (409, 429):
                    self.tally.limit_answers[code] += 1
                    if code == "limit_reached" and not isinstance(body.get("limit"), int):
                        self.tally.outside_contract.append((method, path, "limit_reached without limit"))
                    if code == "rate_limited" and not response.headers.get("Retry-After", "").isdigit():
                        self.tally.outside_contract.append((method, path, "rate_limited without Retry-After"))
        return response

    def acked(self, action: str, org: str, target: str = "") -> None:
        with self.tally.lock:
            self.tally.acked_changes[(action, org, target)] += 1

    def violation(self, kind: str, what: str) -> None:
        with self.tally.lock:
            getattr(self.tally, kind).append(what)

    # -- operations ----------------------------------------------------------------------------------------------
    def create(self) -> None:
        self.serial += 1
        name = f"chaos-{self.index}-{self.serial}-{uuid.uuid4().hex[:6]}"
        keyed = self.rng.random() < 0.8
        headers = {"Idempotency-Key": uuid.uuid4().hex} if keyed else {}
        response = self.call("POST", "/organizations", self.global_token, json={"name": name}, headers=headers)
        for _ in range(5):  # a client retries a keyed create after a 5xx or "in progress", with the same key
            if not keyed or response.status_code not in (409, 502, 503, 504):
                break
            with self.tally.lock:
                self.tally.keyed_retries += 1
            time.sleep(min(2.0, float(response.headers.get("Retry-After", "1"))))
            response = self.call("POST", "/organizations", self.global_token, json={"name": name}, headers=headers)
        if response.status_code == 201:
            org = response.json()["id"]
            with self.tally.lock:
                self.tally.acked_creates.append((name, org, self.user))
            self.acked("organization.created", org)
            if CREATOR_ROLE not in (self.state.roles(org, self.user) or set()):
                self.violation("ack_missing", f"create {name}: creator without {CREATOR_ROLE}")
            self.orgs[org] = self.mint("organization", org)
        else:
            with self.tally.lock:
                self.tally.failed_creates.append(name)

    def add_member(self, org: str, token: str) -> None:
        target = self.rng.choice([t for t in TARGETS if t != self.user])
        before = self.state.roles(org, target)
        roles = self.rng.choice([[], ["member"]])
        response = self.call(
            "POST", f"/organizations/{org}/members", token, json={"userIds": [target], "roleNames": roles}
        )
        after = self.state.roles(org, target)
        self.touch(org, target)
        if response.status_code == 201:
            self.acked("member.added", org, target)
            if after is None or not set(roles) <= after:
                self.violation("ack_missing", f"add {target} {roles} to {org}: now {after}")
            if self.state.member_count(org) > self.limits["MAX_MEMBERS_PER_ORG"]:
                self.violation("limit_breaches", f"members of {org}: {self.state.member_count(org)}")
        elif after != before:
            self.violation(
                "failed_but_happened", f"add {target} {roles} to {org} ({response.status_code}): {before} -> {after}"
            )
        else:
            self.recheck_later(org, target, f"add {target} to {org}", lambda: self.state.roles(org, target) == before)

    def member_targets(self, org: str) -> list[str]:
        return [t for t in TARGETS if t != self.user and self.state.roles(org, t) is not None]

    def remove_member(self, org: str, token: str) -> None:
        targets = self.member_targets(org)
        if not targets:
            return self.add_member(org, token)
        target = self.rng.choice(targets)
        before = self.state.roles(org, target)
        response = self.call("DELETE", f"/organizations/{org}/members/{target}", token)
        after = self.state.roles(org, target)
        self.touch(org, target)
        if response.status_code == 204:
            self.acked("member.removed", org, target)
            if after is not None:
                self.violation("ack_missing", f"remove {target} from {org}: still {after}")
        elif after != before:
            self.violation("failed_but_happened", f"remove {target} from {org} ({response.status_code})")
        else:
            self.recheck_later(org, target, f"remove {target}", lambda: self.state.roles(org, target) == before)
        return None

    def replace_roles(self, org: str, token: str) -> None:
        targets = self.member_targets(org)
        if not targets:
            return self.add_member(org, token)
        target = self.rng.choice(targets)
        roles = self.rng.choice([["member"], [], ["admin"]])
        before = self.state.roles(org, target)
        response = self.call("PUT", f"/organizations/{org}/members/{target}/roles", token, json={"roleNames": roles})
        after = self.state.roles(org, target)
        self.touch(org, target)
        if response.status_code == 200:
            if before != set(roles):
                self.acked("member.roles_replaced", org, target)
            else:  # the same roles again change nothing: no entry is due (CONTRACT.md, audit)
                with self.tally.lock:
                    self.tally.maybe_changes["member.roles_replaced", org, target] += 1
            if after != set(roles):
                self.violation("ack_missing", f"roles of {target} in {org} = {roles}: now {after}")
        elif after != before:
            self.violation(
                "failed_but_happened", f"roles of {target} in {org} ({response.status_code}): {before} -> {after}"
            )
        else:
            self.recheck_later(org, target, f"roles of {target}", lambda: self.state.roles(org, target) == before)
        return None

    def email_unknown(self, org: str, invitee: str) -> None:
        """An e-mail whose answer was lost may have gone out: its places are kept (Logto keeps no record)."""
        with self.tally.lock:
            self.tally.emails_unknown["organization", org] += 1
            self.tally.emails_unknown["invitee", invitee.lower()] += 1

    def invite(self, org: str, token: str) -> None:
        victim = self.rng.random() < 0.3
        invitee = self.rng.choice(VICTIMS) if victim else f"chaos-{uuid.uuid4().hex[:8]}@example.com"
        before = self.state.pending_invitations(org, invitee)
        response = self.call("POST", f"/organizations/{org}/invitations", token, json={"invitee": invitee})
        if response.status_code >= 500:
            self.email_unknown(org, invitee)  # the function may have died after the e-mail (not here: counted anyway)
        if response.status_code == 201:
            invitation = response.json()["id"]
            self.acked("invitation.created", org, invitation)
            if self.state.invitation_status(invitation) != "Pending":
                self.violation("ack_missing", f"invitation {invitation} for {invitee}")
            if self.state.pending_count(org) > self.limits["MAX_PENDING_INVITATIONS_PER_ORG"]:
                self.violation("limit_breaches", f"pending invitations of {org}: {self.state.pending_count(org)}")
            if response.json().get("email", {}).get("sent") is None:
                self.email_unknown(org, invitee)
            self.invitations.setdefault(org, []).append(invitation)
        elif victim:
            if self.state.pending_invitations(org, invitee) != before:
                self.violation("failed_but_happened", f"invite {invitee} to {org} ({response.status_code})")
        elif self.state.pending_invitations(org, invitee):
            self.violation("failed_but_happened", f"invite {invitee} to {org} ({response.status_code})")
        else:
            self.recheck_later(
                org, invitee, f"invite {invitee}", lambda: not self.state.pending_invitations(org, invitee)
            )

    def revoke(self, org: str, token: str) -> None:
        pending = self.invitations.get(org) or []
        if not pending:
            return self.invite(org, token)
        invitation = pending.pop(self.rng.randrange(len(pending)))
        response = self.call("DELETE", f"/organizations/{org}/invitations/{invitation}", token)
        status = self.state.invitation_status(invitation)
        self.touch(org, invitation)  # a later revoke of the same invitation is not an earlier failure landing late
        if response.status_code == 204:
            self.acked("invitation.revoked", org, invitation)
            if status != "Revoked":
                self.violation("ack_missing", f"revoke {invitation}: {status}")
        elif status != "Pending":
            self.violation("failed_but_happened", f"revoke {invitation} ({response.status_code}): {status}")
        else:
            pending.append(invitation)
            self.recheck_later(
                org, invitation, f"revoke {invitation}", lambda: self.state.invitation_status(invitation) != "Revoked"
            )
        return None

    def resend(self, org: str, token: str) -> None:
        pending = self.invitations.get(org) or []
        if not pending:
            return self.invite(org, token)
        invitation = self.rng.choice(pending)
        response = self.call("POST", f"/organizations/{org}/invitations/{invitation}/message", token)
        if response.status_code == 204:  # sent: the one outcome recorded (202, "sent" unknown, records nothing)
            self.acked("invitation.message_sent", org, invitation)
        if response.status_code == 202 or response.status_code >= 500:
            invitee = self.state.invitee(invitation)
            if invitee:
                self.email_unknown(org, invitee)
        return None

    def read(self, org: str, token: str) -> None:
        path = self.rng.choice(
            [f"/organizations/{org}", f"/organizations/{org}/members", f"/organizations/{org}/roles"]
        )
        self.call("GET", path, token)

    def delete(self, org: str, token: str) -> None:
        response = self.call("DELETE", f"/organizations/{org}", token)
        exists = self.state.org_exists(org)
        self.touch(org, "*")
        if response.status_code == 204:
            self.acked("organization.deleted", org)
            if exists:
                self.violation("ack_missing", f"delete {org}")
            del self.orgs[org]
        elif not exists:
            self.violation("failed_but_happened", f"delete {org} ({response.status_code})")
            del self.orgs[org]
        else:
            self.later.append(
                (
                    org,
                    "*",
                    self.versions[(org, "*")],
                    self.versions[(org, "*")],
                    f"delete {org}",
                    lambda: self.state.org_exists(org),
                )
            )

    def run(self) -> None:
        operations = [
            (self.add_member, 4),
            (self.remove_member, 3),
            (self.replace_roles, 3),
            (self.invite, 2),
            (self.revoke, 2),
            (self.resend, 1),
            (self.read, 3),
            (self.delete, 1),
        ]
        while self.budget():
            if len(self.orgs) < 2 or self.rng.random() < 0.08:
                self.create()
                continue
            org = self.rng.choice(sorted(self.orgs))
            operation = self.rng.choices([o for o, _ in operations], [w for _, w in operations])[0]
            try:
                operation(org, self.orgs[org])
            except requests.RequestException as exc:
                self.violation("outside_contract", f"{operation.__name__}: {type(exc).__name__}")


def start_stack(data: Path, limits: dict[str, int]) -> harness.RunningStack:
    env = {name: str(value) for name, value in limits.items()}
    # the clean-up runs once, after the workload, as its schedule would
    try:
        return harness.start(data, env=env, workers=None, args=["--cleanup-every", "0"], timeout=120)
    except harness.StackFailed as failed:
        raise SystemExit(f"{failed}\n(see {data}/logs)") from None


def audit_entries(aws_url: str) -> list[dict]:
    """Every entry of the local audit table (orgapi.outcomes.audit), read from the local AWS directly."""
    import boto3

    from local.serve import AUDIT_TABLE, REGION

    dynamodb = boto3.client(
        "dynamodb", endpoint_url=aws_url, region_name=REGION, aws_access_key_id="local", aws_secret_access_key="local"
    )
    entries, start = [], None
    while True:
        page = dynamodb.scan(TableName=AUDIT_TABLE, **({"ExclusiveStartKey": start} if start else {}))
        entries += [json.loads(item["entry"]["S"]) for item in page.get("Items", [])]
        start = page.get("LastEvaluatedKey")
        if not start:
            return entries


def audit_key(entry: dict) -> tuple[str, str, str]:
    targets = entry.get("targets") or {}
    target = targets.get("invitationId") or ",".join(targets.get("userIds") or []) if targets else ""
    return entry["action"], entry["organizationId"], target or ""


def limit_audit(info: dict, limits: dict[str, int], tally: Tally, outbox: list[dict]) -> tuple[list, list, dict]:
    """Breaches of the rate limits (organizations per creator, e-mails per organization and per address, from the
    stand-in's own records), and places the stack's table holds for changes that did not happen (leaked) or lacks for
    changes that did (an undercount: a breach waiting to happen)."""
    import boto3

    table = info["functionEnv"]["IDEMPOTENCY_TABLE"]
    client = boto3.client(
        "dynamodb",
        endpoint_url=info["aws"],
        region_name="eu-west-1",  # local.serve's region
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    held: dict[str, int] = {}
    for page in client.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            if item["id"]["S"].startswith("limit#"):
                held[item["id"]["S"]] = sum(1 for name in item if name.startswith(PLACE_PREFIX))
                if int(item.get("n", {}).get("N", "0")) != held[item["id"]["S"]]:
                    held[item["id"]["S"]] = -1  # the count and the places disagree: reported below
    created: dict[str, set[str]] = {}
    for _, org, user in tally.acked_creates:
        created.setdefault(user, set()).add(org)
    sent_by_org = Counter(m["organizationId"] for m in outbox)
    sent_to = Counter(m["to"].lower() for m in outbox)
    # (item id, places that must be held, places that may be held, limit, what)
    expected = [
        (f"limit#orgs-created#user#{user}", len(orgs), len(orgs), "MAX_ORGS_CREATED_PER_USER_PER_DAY", user)
        for user, orgs in created.items()
    ]
    unknown_of = {kind: {k for (c, k) in tally.emails_unknown if c == kind} for kind in ("organization", "invitee")}
    for org in set(sent_by_org) | unknown_of["organization"]:
        sent, unknown = sent_by_org[org], tally.emails_unknown["organization", org]
        expected.append(
            (f"limit#emails#organization#{org}", sent, sent + unknown, "MAX_INVITATION_EMAILS_PER_ORG_PER_DAY", org)
        )
    for address in set(sent_to) | unknown_of["invitee"]:
        sent, unknown = sent_to[address], tally.emails_unknown["invitee", address]
        item = f"limit#emails#invitee#{hashlib.sha256(address.encode()).hexdigest()}"
        expected.append((item, sent, sent + unknown, "MAX_INVITATION_EMAILS_PER_INVITEE_PER_DAY", address))
    breaches, leaked = [], []
    for item, must, may, limit_name, what in expected:
        if must > limits[limit_name]:
            breaches.append(f"{limit_name} {what}: {must}")
        count = held.pop(item, 0)
        if count < must:
            breaches.append(f"{limit_name} {what}: {count} places held for {must}")
        elif count > may:
            leaked.append(f"{limit_name} {what}: {count} places held for {must} (+{may - must} unknown)")
    leaked += [f"{item}: {count} places, nothing happened" for item, count in held.items() if count]
    return breaches, leaked, {"items": len(expected), "places": sum(e[1] for e in expected)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=0.1)
    parser.add_argument("--kinds", default="429,500,503,slow,lost,drop")
    parser.add_argument("--slow-ms", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--actors", type=int, default=len(ACTORS))
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder (logs, stand-in state)")
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="chaos-"))
    limits = chaos_limits()
    running = start_stack(data, limits)
    info = running.info
    api, logto = info["url"], info["logto"]
    state = StandinState(data / "logto.sqlite")
    tally = Tally()
    http = requests.Session()
    try:
        chaos = {"rate": args.rate, "kinds": args.kinds.split(","), "seed": args.seed, "slowMs": args.slow_ms}
        response = http.post(f"{logto}/__dev/faults", json=chaos, timeout=10)
        if response.status_code != 201:
            raise SystemExit(f"the stand-in refused the chaos mode: {response.status_code} {response.text[:200]}")
        eventbridge = f"{api}/__local/eventbridge"
        http.post(eventbridge, json={"failRate": args.rate, "seed": args.seed}, timeout=10).raise_for_status()
        started = time.monotonic()

        def budget() -> bool:
            with tally.lock:
                return tally.requests < args.requests

        actors = [
            Actor(i, ACTORS[i % len(ACTORS)], api, logto, state, tally, budget, args.seed, limits)
            for i in range(args.actors)
        ]
        threads = [threading.Thread(target=a.run) for a in actors]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        faults = http.get(f"{logto}/__dev/stats", timeout=10).json()
        http.delete(f"{logto}/__dev/faults", timeout=10)
        eventbridge_failed = http.post(eventbridge, json={"fail": False}, timeout=10).json().get("failed", 0)

        # A request's clean-up item is held for its remaining time + 5 s, an unpublished event for 30 s (its request
        # may still publish it): let the last ones come due.
        time.sleep(31)
        runs = [http.post(f"{api}/__local/cleanup", timeout=120).json() for _ in range(2)]
        pending_after = runs[-1].get("pending", -1)

        landed_later = [label for actor in actors for label in actor.late_landings()]
        without_creator = state.orgs_without_creator("chaos-")
        failed_created = [n for n in tally.failed_creates if state.orgs_named(n)]
        duplicates = [n for n, _, _ in tally.acked_creates if len(state.orgs_named(n)) > 1]

        entries = audit_entries(info["aws"])
        recorded = Counter(audit_key(e) for e in entries)
        chaos_orgs = {org for _, org, _ in tally.acked_creates}
        recorded = Counter({k: n for k, n in recorded.items() if k[1] in chaos_orgs or k in tally.acked_changes})
        missing_entries = [k for k, n in tally.acked_changes.items() if recorded[k] < n]
        extra_entries = [k for k, n in recorded.items() if n > tally.acked_changes[k] + tally.maybe_changes[k]]
        published = Counter(e["detail"]["id"] for e in http.get(f"{api}/__local/events", timeout=30).json())
        unpublished = [e["id"] for e in entries if not published[e["id"]]]
        late = sum(r.get("eventsPublished", 0) for r in runs)
        breaches, leaked, places = limit_audit(
            info, limits, tally, http.get(f"{logto}/__dev/outbox", timeout=10).json()
        )

        management = faults.get("management_requests", 0)
        injected = faults.get("faults", {})
        print(
            f"chaos run: {tally.requests} requests by {len(actors)} sessions in {elapsed:.0f} s; fault rate {args.rate:.0%}"
        )
        print(
            f"  Management API requests: {management}, faults injected: {sum(injected.values())} {dict(sorted(injected.items()))}"
        )
        print(f"  statuses: {dict(sorted(tally.statuses.items()))}")
        print(
            f"  keyed create retries by the client: {tally.keyed_retries}; "
            f"creates acknowledged: {len(tally.acked_creates)}, failed: {len(tally.failed_creates)}"
        )
        print(f"  clean-up runs: {runs}")
        print(
            f"  audit: {sum(tally.acked_changes.values())} acknowledged changes, {len(entries)} entries, "
            f"{sum(published.values())} events; PutEvents failed {eventbridge_failed} times, {late} events "
            f"published late by the clean-up run, {sum(n - 1 for n in published.values() if n > 1)} published twice"
        )
        print(
            f"  limits {limits}: answers {dict(sorted(tally.limit_answers.items()))}; places held at the end: {places}"
        )
        invariants = {
            "organizations without a CREATOR_ROLE holder": len(without_creator),
            "acknowledged changes missing": len(tally.ack_missing),
            "changes reported failed that happened": len(tally.failed_but_happened)
            + len(failed_created)
            + len(landed_later),
            "keyed creates with more than one organization": len(duplicates),
            "statuses or bodies outside the contract": len(tally.outside_contract),
            "500s": tally.server_errors_500,
            "pending clean-ups after the clean-up run": pending_after,
            "acknowledged changes without exactly one audit entry": len(missing_entries)
            + len([k for k in extra_entries if tally.acked_changes[k]]),
            "audit entries for changes not acknowledged": len([k for k in extra_entries if not tally.acked_changes[k]]),
            "audit entries whose event never reached the bus": len(unpublished),
            "limit breaches": len(tally.limit_breaches) + len(breaches),
            "leaked places": len(leaked),
        }
        width = max(len(k) for k in invariants)
        for name, value in invariants.items():
            print(f"  {name:<{width}}  {value}")
        for label, items in (
            ("without creator", without_creator),
            ("ack missing", tally.ack_missing),
            ("failed but happened", tally.failed_but_happened + failed_created + landed_later),
            ("duplicates", duplicates),
            ("outside contract", tally.outside_contract),
            ("audit entry missing", missing_entries),
            (
                "audit entries beyond the acknowledged",
                [(k, recorded[k], tally.acked_changes[k]) for k in extra_entries],
            ),
            ("event never published", unpublished),
            ("limit breach", tally.limit_breaches + breaches),
            ("leaked place", leaked),
        ):
            for item in items[:10]:
                print(f"    {label}: {item}")
        if args.keep:
            print(f"  data: {data}")
        sys.exit(0 if all(v == 0 for v in invariants.values()) else 1)
    finally:
        running.stop(timeout=20)


if __name__ == "__main__":
    main()
