"""`make load`: drive a running `make local` from a second process over loopback, then print figures.

A bounded number of requests per concurrency level, with a mix of token kinds and routes (reads, writes, requests the
authorizer must refuse, and the invitation story: invite, list, accept, list organizations, members/me, leave).
Prints throughput, p50/p99 latency, unexpected statuses, authorizer invocations, M2M token requests, and checks that
every acknowledged write (an invitation) is really there afterwards (lost writes).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

DEMO = "demo0org0001"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:3000")
    parser.add_argument("--requests", type=int, default=1500, help="requests per concurrency level")
    parser.add_argument("--levels", default="1,4,16")
    parser.add_argument(
        "--data", default=os.environ.get("LOCAL_DATA") or str(Path(__file__).resolve().parent.parent / ".local")
    )
    args = parser.parse_args()
    try:
        run = json.loads((Path(args.data) / "run.json").read_text())
    except (OSError, ValueError):
        sys.exit(f"error: no running `make local` with its state in {args.data} (LOCAL_DATA); start it first")
    if run.get("external"):
        raise SystemExit("make load needs the built-in Logto stand-in (LOGTO_ENDPOINT unset)")
    logto = run["logto"]
    http = requests.Session()

    def mint(kind: str, user: str, org: str | None = None) -> str:
        body = {"kind": kind, "userId": user, "organizationId": org}
        return http.post(f"{logto}/__dev/tokens", json=body, timeout=5).json()["token"]

    carol = mint("global_api", "carol")
    created = http.post(
        f"{args.url}/organizations",
        json={"name": f"load-{uuid.uuid4().hex[:6]}"},
        headers={"Authorization": f"Bearer {carol}"},
        timeout=30,
    )
    created.raise_for_status()
    write_org = created.json()["id"]
    tokens = {
        "alice_org": mint("organization", "alice", DEMO),
        "bob_org": mint("organization", "bob", DEMO),
        "alice_api": mint("organization_api", "alice", DEMO),
        "carol_global": carol,
        "carol_writer": mint("organization", "carol", write_org),
    }
    # (token, method, path, expected statuses, is_write)
    mix = [
        ("alice_org", "GET", f"/organizations/{DEMO}", {200}, False),
        ("bob_org", "GET", f"/organizations/{DEMO}/members", {200}, False),
        ("alice_api", "GET", f"/organizations/{DEMO}/roles", {200}, False),
        ("carol_global", "GET", "/organizations", {200}, False),
        ("carol_writer", "POST", f"/organizations/{write_org}/invitations", {201}, True),
        ("bob_org", "DELETE", f"/organizations/{DEMO}", {403}, False),  # refused by the cached policy
        ("bad", "GET", f"/organizations/{DEMO}", {401}, False),  # refused before the authorizer
        ("story", "", "", set(), False),  # the invitation story, six requests (below)
    ]
    dave = mint("global_api", "dave")
    story_orgs: dict[int, tuple[str, str]] = {}  # one organization per thread: one pending invitation at a time

    def story(session: requests.Session) -> list[tuple[float, bool]]:
        """alice invites dave, dave lists his invitations, accepts, lists his organizations, reads members/me, leaves."""
        key = threading.get_ident()
        if key not in story_orgs:
            alice = mint("global_api", "alice")
            org = http.post(
                f"{args.url}/organizations",
                json={"name": f"story-{uuid.uuid4().hex[:6]}"},
                headers={"Authorization": f"Bearer {alice}"},
                timeout=30,
            ).json()["id"]
            story_orgs[key] = (org, mint("organization", "alice", org))
        org, alice_org = story_orgs[key]
        steps: list[tuple[float, bool]] = []

        def step(token: str, method: str, path: str, expected: int, body: dict | None = None) -> requests.Response:
            started = time.perf_counter()
            response = session.request(
                method, f"{args.url}{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60
            )
            steps.append(((time.perf_counter() - started) * 1000, response.status_code == expected))
            return response

        invited = step(alice_org, "POST", f"/organizations/{org}/invitations", 201, {"invitee": "dave@example.com"})
        invitation = invited.json().get("id") if invited.status_code == 201 else None
        listed = step(dave, "GET", "/invitations", 200)
        if invitation is None or invitation not in {i["id"] for i in listed.json()}:
            steps.append((0.0, False))
            return steps
        step(dave, "POST", f"/invitations/{invitation}/accept", 200)
        step(dave, "GET", "/organizations", 200)
        dave_org = mint("organization", "dave", org)
        step(dave_org, "GET", f"/organizations/{org}/members/me", 200)
        step(dave_org, "DELETE", f"/organizations/{org}/members/me", 204)
        return steps

    def stats() -> tuple[int, int]:
        gateway = http.get(f"{args.url}/__local/stats", timeout=5).json()
        return gateway["authorizerInvocations"], http.get(f"{logto}/__dev/stats", timeout=5).json()["token_requests"]

    acknowledged: list[str] = []
    lock = threading.Lock()
    local = threading.local()

    def one(i: int) -> list[tuple[float, bool]]:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        name, method, path, expected, write = mix[i % len(mix)]
        if name == "story":
            return story(session)
        headers = {"Authorization": f"Bearer {tokens.get(name, 'not-a-token')}"}
        body = {"invitee": f"load-{uuid.uuid4().hex}@example.com"} if write else None
        started = time.perf_counter()
        response = session.request(method, f"{args.url}{path}", json=body, headers=headers, timeout=60)
        elapsed = (time.perf_counter() - started) * 1000
        if write and response.status_code == 201:
            with lock:
                acknowledged.append(response.json()["id"])
        return [(elapsed, response.status_code in expected)]

    auth_before, m2m_before = stats()
    print(
        f"{'concurrency':>11} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'unexpected':>10} "
        f"{'authorizer':>10} {'m2m tokens':>10}"
    )
    for level in (int(x) for x in args.levels.split(",")):
        level_auth, level_m2m = stats()
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=level) as pool:
            results = [r for batch in pool.map(one, range(args.requests)) for r in batch]
        wall = time.perf_counter() - started
        auth_after, m2m_after = stats()
        latencies = [r[0] for r in results]
        unexpected = sum(1 for r in results if not r[1])
        print(
            f"{level:>11} {len(results):>8} {len(results) / wall:>8.0f} {percentile(latencies, 0.5):>8.1f} "
            f"{percentile(latencies, 0.99):>8.1f} {unexpected:>10} {auth_after - level_auth:>10} {m2m_after - level_m2m:>10}"
        )
    auth_after, m2m_after = stats()
    listed = http.get(
        f"{args.url}/organizations/{write_org}/invitations",
        headers={"Authorization": f"Bearer {tokens['carol_writer']}"},
        timeout=30,
    ).json()
    lost = len(set(acknowledged) - {i["id"] for i in listed})
    workers = http.get(f"{args.url}/__local/stats", timeout=5).json()["workersStarted"]
    operation_workers = sum(n for f, n in workers.items() if f not in ("AuthorizerFunction", "HealthFunction"))
    print(
        f"\ndistinct tokens: {len(tokens)} (+1 malformed); authorizer invocations in total: {auth_after - auth_before}"
    )
    print(f"M2M token requests in total: {m2m_after - m2m_before}; operation worker processes: {operation_workers}")
    print(f"writes acknowledged: {len(acknowledged)}; lost writes: {lost}")
    for org, token in [(write_org, tokens["carol_writer"]), *story_orgs.values()]:
        http.delete(f"{args.url}/organizations/{org}", headers={"Authorization": f"Bearer {token}"}, timeout=30)


if __name__ == "__main__":
    main()
