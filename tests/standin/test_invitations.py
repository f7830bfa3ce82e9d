"""Organization invitations (routes/organization-invitation/index.ts, libraries/organization-invitation.ts,
queries/organization/index.ts OrganizationInvitationsQueries; notes/logto-observed.md "Invitations")."""

import time

from tests.standin.conftest import DEMO

SEEDED = "demo0invite1"


def status(logto, invitation_id, value, user=None):
    body = {"status": value} if user is None else {"status": value, "acceptedUserId": user}
    return logto.api("PUT", f"/organization-invitations/{invitation_id}/status", json=body)


def invite(logto, invitee, org=DEMO, roles=("member",), **extra):
    body = {
        "invitee": invitee,
        "organizationId": org,
        "expiresAt": int(time.time() * 1000) + 3_600_000,
        "organizationRoleIds": [logto.role_id(r) for r in roles],
        **extra,
    }
    return logto.api("POST", "/organization-invitations", json=body)


def roles_of(logto, user, org=DEMO):
    response = logto.api("GET", f"/organizations/{org}/users/{user}/roles")
    return None if response.status_code == 422 else [r["name"] for r in response.get_json()]


def test_the_seeded_invitation_is_pending_for_dave(logto):
    """Seed: dave is invited to the demo organization as `member`; the entity is organizationInvitationEntityGuard."""
    invitation = logto.api("GET", f"/organization-invitations/{SEEDED}").get_json()
    assert invitation["status"] == "Pending" and invitation["invitee"] == "dave@example.com"
    assert invitation["organizationId"] == DEMO and [r["name"] for r in invitation["organizationRoles"]] == ["member"]


def test_accepting_adds_the_membership_and_the_roles_in_one_step(logto):
    """updateStatus(Accepted): in one transaction the user joins the organization and gets the invitation's roles;
    the answer is the entity with the new status and acceptedUserId."""
    response = status(logto, SEEDED, "Accepted", "dave")
    assert response.status_code == 200
    assert response.get_json()["status"] == "Accepted" and response.get_json()["acceptedUserId"] == "dave"
    assert roles_of(logto, "dave") == ["member"]


def test_accepting_needs_the_invitees_email_compared_case_insensitively(logto):
    """updateStatus: `user.primaryEmail?.toLowerCase() !== entity.invitee.toLowerCase()` → 422
    request.invalid_input; a user without an e-mail never matches; the route refuses a missing acceptedUserId
    with 422 too. Nothing changes on a refusal."""
    for user in ("bob", "erin"):
        refused = status(logto, SEEDED, "Accepted", user)
        assert refused.status_code == 422 and refused.get_json()["code"] == "request.invalid_input"
    assert status(logto, SEEDED, "Accepted").get_json()["code"] == "request.invalid_input"
    assert roles_of(logto, "erin") is None and roles_of(logto, "dave") is None
    assert logto.api("GET", f"/organization-invitations/{SEEDED}").get_json()["status"] == "Pending"
    shouting = invite(logto, "CAROL@Example.COM", roles=("admin",)).get_json()
    assert status(logto, shouting["id"], "Accepted", "carol").status_code == 200
    assert roles_of(logto, "carol") == ["admin"]


def test_ending_statuses_cannot_change(logto):
    """endingStatuses = Accepted, Expired, Revoked → 422 request.invalid_input ("cannot be changed anymore"); only
    Accepted and Revoked can be set (z.enum in the route: anything else is 400 guard.invalid_input)."""
    assert status(logto, SEEDED, "Expired").status_code == 400
    assert status(logto, SEEDED, "Pending").status_code == 400
    assert status(logto, SEEDED, "Revoked").status_code == 200
    for value, user in (("Revoked", None), ("Accepted", "dave")):
        again = status(logto, SEEDED, value, user)
        assert again.status_code == 422 and again.get_json()["code"] == "request.invalid_input"
    assert roles_of(logto, "dave") is None
    missing = status(logto, "nope", "Revoked")
    assert missing.status_code == 404 and missing.get_json()["code"] == "entity.not_found"


def test_expired_is_computed_when_read(logto):
    """#findEntity: `case when status = 'Pending' and expires_at < now() then 'Expired'`; the stored row stays
    Pending, an expired invitation cannot be accepted, and a new one for the same invitee may be created
    (updateExpiredEntities runs before the insert)."""
    store = logto.client.application.config["store"]
    store.db.execute("UPDATE invitations SET expires_at = 1 WHERE id = ?", (SEEDED,))
    assert logto.api("GET", f"/organization-invitations/{SEEDED}").get_json()["status"] == "Expired"
    assert status(logto, SEEDED, "Accepted", "dave").status_code == 422
    assert invite(logto, "dave@example.com").status_code == 201


def test_listing_filters_the_invitee_exactly_but_ignoring_case(logto):
    """#findEntity: `lower(invitee) = lower(:invitee)`: an exact match, case-insensitive; also organizationId and
    inviterId filters."""
    found = logto.api("GET", "/organization-invitations", query_string={"invitee": "DAVE@example.com"}).get_json()
    assert [i["id"] for i in found] == [SEEDED]
    for partial in ("dave", "dave@example", "ave@example.com"):
        assert logto.api("GET", "/organization-invitations", query_string={"invitee": partial}).get_json() == []
    by_inviter = logto.api("GET", "/organization-invitations", query_string={"inviterId": "alice"}).get_json()
    assert [i["id"] for i in by_inviter] == [SEEDED]


def test_pending_uniqueness_and_membership_checks_are_case_sensitive(logto):
    """tables/organization_invitations.sql: unique (tenant_id, invitee, organization_id) where Pending — case
    matters (logto-observed.md: `zed@` and `ZED@` both 201); isMember compares `primary_email = invitee` exactly."""
    assert invite(logto, "zed@example.com").status_code == 201
    assert invite(logto, "ZED@example.com").status_code == 201
    assert invite(logto, "zed@example.com").get_json()["code"] == "entity.unique_integrity_violation"
    assert invite(logto, "bob@example.com").get_json()["code"] == "request.invalid_input"  # bob is a member
    assert invite(logto, "BOB@example.com").status_code == 201


def test_a_message_payload_sends_the_email_at_creation_and_false_sends_none(logto, capsys):
    """route POST / : `messagePayload: sendMessagePayloadGuard.or(z.literal(false)).default(false)`; insert() sends
    the e-mail inside the creating transaction when a payload is given."""
    assert invite(logto, "quiet@example.com", messagePayload=False).status_code == 201
    assert invite(logto, "default@example.com").status_code == 201
    assert logto.client.get("/__dev/outbox").get_json() == []
    created = invite(logto, "loud@example.com", messagePayload={"link": "https://app/i/1"}).get_json()
    [mail] = logto.client.get("/__dev/outbox").get_json()
    assert mail["to"] == "loud@example.com" and mail["invitationId"] == created["id"]
    assert mail["link"] == "https://app/i/1" and mail["organizationId"] == DEMO and isinstance(mail["at"], int)
    assert "invitation e-mail to loud@example.com with link https://app/i/1" in capsys.readouterr().out
    assert invite(logto, "bad@example.com", messagePayload={"link": 5}).status_code == 400


def test_the_message_route_sends_whatever_the_status(logto):
    """route POST /:id/message: body sendMessagePayloadGuard (an object; code/link/locale/uiLocales strings), reads
    the invitation by id (404 entity.not_found) and sends — it does not look at the status; answers 204."""
    assert status(logto, SEEDED, "Revoked").status_code == 200
    sent = logto.api("POST", f"/organization-invitations/{SEEDED}/message", json={"link": "https://app/i/seed"})
    assert sent.status_code == 204 and sent.get_data() == b""
    assert [m["link"] for m in logto.client.get("/__dev/outbox").get_json()] == ["https://app/i/seed"]
    assert logto.api("POST", f"/organization-invitations/{SEEDED}/message", json={"link": 1}).status_code == 400
    assert logto.api("POST", f"/organization-invitations/{SEEDED}/message", json=[]).status_code == 400
    missing = logto.api("POST", "/organization-invitations/nope/message", json={"link": "x"})
    assert missing.status_code == 404 and missing.get_json()["code"] == "entity.not_found"


def test_without_an_email_connector_sending_is_501_and_creation_rolls_back(logto):
    """libraries/connector.ts getMessageConnector: no e-mail connector → 501 `connector.not_found`; insert() runs in
    one transaction, so a creation whose e-mail cannot be sent leaves no invitation (logto-observed.md: with
    `messagePayload: false` creation works without a connector)."""
    assert logto.client.post("/__dev/connector", json={"email": False}).get_json() == {"email": False}
    message = logto.api("POST", f"/organization-invitations/{SEEDED}/message", json={"link": "x"})
    assert message.status_code == 501 and message.get_json()["code"] == "connector.not_found"
    created = invite(logto, "nomail@example.com", messagePayload={"link": "x"})
    assert created.status_code == 501 and created.get_json()["code"] == "connector.not_found"
    listed = logto.api("GET", "/organization-invitations", query_string={"invitee": "nomail@example.com"})
    assert listed.get_json() == []
    assert invite(logto, "nomail@example.com", messagePayload=False).status_code == 201
    assert logto.client.get("/__dev/outbox").get_json() == []
