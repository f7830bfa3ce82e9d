"""The audit trail and change events through `make local` (issue 20): the route through the gateway, the events on the
local bus (`GET /__local/events`), and late publishing by the clean-up run while EventBridge fails
(`POST /__local/eventbridge`)."""

from __future__ import annotations

import uuid

from tests.e2e.test_story import create_org


def events(stack):
    response = stack.http.get(f"{stack.url}/__local/events", timeout=5)
    assert response.status_code == 200
    return response.json()


def eventbridge(stack, fail):
    response = stack.http.post(f"{stack.url}/__local/eventbridge", json={"fail": fail}, timeout=5)
    assert response.status_code == 200 and response.json()["fail"] == fail


def trail(stack, org_id, token, **params):
    response = stack.call("GET", f"/organizations/{org_id}/audit", token, params=params)
    assert response.status_code == 200, response.text
    return response


def test_changes_are_in_the_trail_and_on_the_bus(stack):
    org = create_org(stack, user="carol")
    carol = stack.token("organization", "carol", org["id"])
    added = stack.call("POST", f"/organizations/{org['id']}/members", carol, json={"userIds": ["bob"]})
    assert added.status_code == 201
    refused = stack.call("DELETE", f"/organizations/{org['id']}/members/me", carol)
    assert refused.status_code == 409  # the last creator: nothing happened, nothing recorded

    entries = trail(stack, org["id"], carol).json()
    assert [e["action"] for e in entries] == ["member.added", "organization.created"]  # newest first
    assert all(e["actor"]["userId"] == "carol" and e["organizationId"] == org["id"] for e in entries)
    assert entries[0]["targets"] == {"userIds": ["bob"], "roleNames": []}
    published = {e["detail"]["id"]: e for e in events(stack) if e["detail"]["organizationId"] == org["id"]}
    assert set(published) == {e["id"] for e in entries}
    for entry in entries:
        assert published[entry["id"]] == {"source": "orgapi", "detailType": entry["action"], "detail": entry}

    page = trail(stack, org["id"], carol, limit=1)
    assert [e["action"] for e in page.json()] == ["member.added"]
    rest = trail(stack, org["id"], carol, limit=1, cursor=page.headers["Next-Cursor"])
    assert [e["action"] for e in rest.json()] == ["organization.created"] and "Next-Cursor" not in rest.headers

    bob = stack.token("organization", "bob", org["id"], scopes=["member:read", "audit:read"])
    assert stack.call("GET", f"/organizations/{org['id']}/audit", bob).status_code == 403  # his role lacks it
    other = stack.token("organization", "alice", "demo0org0001")
    assert stack.call("GET", f"/organizations/{org['id']}/audit", other).status_code == 403  # another organization


def test_events_eventbridge_refused_are_published_by_the_clean_up_run_once_per_id(stack):
    org = create_org(stack, user="alice")
    alice = stack.token("organization", "alice", org["id"])
    eventbridge(stack, fail=True)
    try:
        for n in range(3):
            renamed = stack.call("PATCH", f"/organizations/{org['id']}", alice, json={"name": f"R{n} {uuid.uuid4()}"})
            assert renamed.status_code == 200  # the change happened: the answer says so
    finally:
        eventbridge(stack, fail=False)
    updates = [e["id"] for e in trail(stack, org["id"], alice, action="organization.updated").json()]
    assert len(updates) == 3
    assert not {e["detail"]["id"] for e in events(stack)} & set(updates)  # none got through

    run = stack.http.post(f"{stack.url}/__local/cleanup", timeout=60).json()
    assert run["eventsPublished"] >= 3 and run["eventsUnpublished"] == 0
    stack.http.post(f"{stack.url}/__local/cleanup", timeout=60)  # a second run publishes nothing again
    late = [e["detail"]["id"] for e in events(stack) if e["detail"]["id"] in updates]
    assert sorted(late) == sorted(updates)  # each exactly once
