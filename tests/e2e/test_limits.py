"""Limits over HTTP (issue 21): a stack of its own started with small limits, as `make local` reads them from the
environment; 20 requests at once through the gateway with one place left, and the 409/429 answers as clients see
them."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.conftest import start_stack
from tests.support.concurrency import at_once

CONCURRENT = 20
LIMITS = {
    "MAX_ORGS_CREATED_PER_USER_PER_DAY": "2",
    "MAX_MEMBERS_PER_ORG": "3",
    "MAX_PENDING_INVITATIONS_PER_ORG": "2",
    "MAX_INVITATION_EMAILS_PER_ORG_PER_DAY": "100",
    "MAX_INVITATION_EMAILS_PER_INVITEE_PER_DAY": "2",
}


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    yield from start_stack(tmp_path_factory, LIMITS)


def new_org(stack, owner):
    response = stack.call("POST", "/organizations", stack.token("global_api", owner), json={"name": "Lim"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_organizations_per_user_twenty_at_once_with_one_place_left(limited):
    new_org(limited, "carol")
    carol = limited.token("global_api", "carol")
    answers = at_once(CONCURRENT, lambda i: limited.call("POST", "/organizations", carol, json={"name": f"Race {i}"}))
    statuses = [a.status_code for a in answers]
    assert statuses.count(201) == 1 and statuses.count(429) == CONCURRENT - 1, statuses
    refused = next(a for a in answers if a.status_code == 429)
    assert refused.json()["code"] == "rate_limited" and set(refused.json()) == {"message", "code"}
    assert 86_000 < int(refused.headers["Retry-After"]) <= 86_400
    mine = limited.call("GET", "/organizations", carol).json()
    assert len(mine) == 2


def test_pending_invitations_twenty_at_once_with_one_place_left(limited):
    org = new_org(limited, "alice")
    token = limited.token("organization", "alice", org)
    first = limited.call("POST", f"/organizations/{org}/invitations", token, json={"invitee": "p0@example.com"})
    assert first.status_code == 201
    answers = at_once(
        CONCURRENT,
        lambda i: limited.call(
            "POST", f"/organizations/{org}/invitations", token, json={"invitee": f"p{uuid.uuid4().hex[:8]}@example.com"}
        ),
    )
    statuses = [a.status_code for a in answers]
    assert statuses.count(201) == 1 and set(statuses) == {201, 409}, statuses
    reached = [a.json() for a in answers if a.status_code == 409 and a.json()["code"] == "limit_reached"]
    assert reached and all(body["limit"] == 2 and set(body) == {"message", "code", "limit"} for body in reached)
    listed = limited.call("GET", f"/organizations/{org}/invitations", token).json()
    assert len([i for i in listed if i["status"] == "Pending"]) == 2
    # A revoked invitation frees its place at once.
    assert limited.call("DELETE", f"/organizations/{org}/invitations/{first.json()['id']}", token).status_code == 204
    again = limited.call("POST", f"/organizations/{org}/invitations", token, json={"invitee": "p1@example.com"})
    assert again.status_code == 201


def test_invitation_emails_per_invitee_twenty_resends_at_once(limited):
    org = new_org(limited, "alice")
    token = limited.token("organization", "alice", org)
    invitee = f"victim-{uuid.uuid4().hex[:6]}@example.com"
    created = limited.call("POST", f"/organizations/{org}/invitations", token, json={"invitee": invitee})
    assert created.status_code == 201 and created.json()["email"] == {"sent": True}
    path = f"/organizations/{org}/invitations/{created.json()['id']}/message"
    statuses = [a.status_code for a in at_once(CONCURRENT, lambda i: limited.call("POST", path, token))]
    assert statuses.count(204) == 1 and statuses.count(429) == CONCURRENT - 1, statuses
    assert [m["to"] for m in limited.outbox()].count(invitee) == 2


def test_members_per_organization_edge(limited):
    org = "demo0org0001"  # alice and bob (alice has used her organizations for the day)
    token = limited.token("organization", "alice", org)
    members = f"/organizations/{org}/members"
    assert limited.call("POST", members, token, json={"userIds": ["bob", "carol"]}).status_code == 201
    refused = limited.call("POST", members, token, json={"userIds": ["dave"]})
    assert refused.status_code == 409
    assert refused.json() == {"message": refused.json()["message"], "code": "limit_reached", "limit": 3}
    assert limited.call("DELETE", f"{members}/carol", token).status_code == 204  # a removed member frees a place
    assert limited.call("POST", members, token, json={"userIds": ["dave"]}).status_code == 201
