"""Invitations through the handlers against the Logto stand-in (which behaves as Logto 1.42's
libraries/organization-invitation.ts and routes/organization-invitation/index.ts): invitation e-mails with
INVITATION_LINK, re-sending, and the invitee's list / accept / decline."""

from __future__ import annotations

import importlib.util
import json

import pytest

from tests.unit.conftest import ROOT, Context
from tests.unit.test_operations import JSON_ONLY, call, event, org_context

# INVITATION_LINK as the handlers fixture sets it: https://app.example.com/invite/{invitationId}?via=mail
SEEDED = "demo0invite1"  # the stand-in's pending invitation for dave@example.com to demo0org0001 (role member)


def user_context(sub="dave", client="spa"):
    return {
        "principalId": sub,
        "sub": sub,
        "clientId": client,
        "organizationId": "",
        "scopes": "",
        "tokenKind": "global_api",
        "exp": "4102444800",
    }


def outbox(logto):
    return logto.client.get("/__dev/outbox").get_json()


def invite(handlers, invitee="erin.new@example.com", **extra):
    return call(handlers, "create_invitation", body={"invitee": invitee, "roleNames": ["member"], **extra})


# -- invitation e-mails -----------------------------------------------------------------------------------------------
def test_a_new_invitation_is_emailed_once_with_its_own_link(handlers, logto):
    status, body, _ = invite(handlers)
    assert status == 201 and body["email"] == {"sent": True}
    mails = [m for m in outbox(logto) if m["invitationId"] == body["id"]]
    assert len(mails) == 1  # created with messagePayload false, then one /message
    assert mails[0]["to"] == "erin.new@example.com"
    assert mails[0]["link"] == f"https://app.example.com/invite/{body['id']}?via=mail"
    assert logto.stats()["routes"][f"POST /api/organization-invitations/{body['id']}/message"] == 1


def test_without_an_email_connector_the_invitation_is_kept_and_the_answer_says_so(handlers, logto):
    logto.client.post("/__dev/connector", json={"email": False})
    status, body, _ = invite(handlers)
    assert status == 201 and body["status"] == "Pending"
    assert body["email"] == {"sent": False, "code": "email_connector_missing"}
    listed = call(handlers, "list_invitations")[1]
    assert body["id"] in [i["id"] for i in listed]
    resent = call(handlers, "send_invitation_message", path={"invitationId": body["id"]})
    assert resent[0] == 502 and resent[1]["code"] == "email_connector_missing"
    assert resent[1]["message"].startswith("The identity provider has no e-mail connector")  # ours, not Logto's
    assert outbox(logto) == []


def test_a_failed_email_send_keeps_the_invitation(handlers, logto):
    # only the e-mail (POST …/{id}/message) is refused: Logto's rate limit turns a request away before it runs
    logto.fault(pathPrefix="/api/organization-invitations/", method="POST", status=429, retryAfter=60, times=1)
    status, body, _ = invite(handlers)
    assert status == 201 and body["email"]["sent"] is False and body["email"]["code"] == "rate_limited"
    assert [i["id"] for i in call(handlers, "list_invitations")[1] if i["id"] == body["id"]]


def test_an_email_send_whose_answer_may_be_lost_is_reported_as_unknown(handlers, logto):
    logto.fault(pathPrefix="/api/organization-invitations/", method="POST", status=500, times=1)
    status, body, _ = invite(handlers)
    assert status == 201 and body["email"] == {"sent": None, "code": "logto_error"}  # a 5xx may hide a sent e-mail
    assert [i["id"] for i in call(handlers, "list_invitations")[1] if i["id"] == body["id"]]


def test_a_client_can_never_choose_the_link(handlers, logto):
    for payload in ({"link": "https://evil.example/"}, False, {"link": "http://169.254.169.254/"}):
        status, body, _ = invite(handlers, messagePayload=payload)
        assert status == 400, body
    assert outbox(logto) == [] and "POST /api/organization-invitations" not in logto.stats()["routes"]


def test_resend_only_for_this_organizations_pending_invitations(handlers, logto):
    assert call(handlers, "send_invitation_message", path={"invitationId": SEEDED})[0] == 204
    assert [m["link"] for m in outbox(logto)] == [f"https://app.example.com/invite/{SEEDED}?via=mail"]
    missing = call(handlers, "send_invitation_message", path={"invitationId": "nosuchinvite"})
    assert missing[0] == 404 and missing[1]["code"] == "invitation_not_found"
    assert call(handlers, "revoke_invitation", path={"invitationId": SEEDED})[0] == 204
    revoked = call(handlers, "send_invitation_message", path={"invitationId": SEEDED})
    assert revoked[0] == 409 and revoked[1]["code"] == "invitation_not_pending"
    assert len(outbox(logto)) == 1  # Logto itself would have sent the revoked one again


def test_resend_of_another_organizations_invitation_is_404(handlers, logto):
    status, org, _ = call(handlers, "create_organization", headers=JSON_ONLY)
    assert status == 201
    theirs = call(
        handlers,
        "create_invitation",
        authorizer=org_context(org=org["id"], sub="carol"),
        path={"organizationId": org["id"]},
        body={"invitee": "someone@example.com"},
    )[1]
    status, body, _ = call(handlers, "send_invitation_message", path={"invitationId": theirs["id"]})
    assert status == 404 and body["code"] == "invitation_not_found"


def test_resend_of_an_expired_invitation_is_409(handlers, logto):
    expire(logto, SEEDED)
    status, body, _ = call(handlers, "send_invitation_message", path={"invitationId": SEEDED})
    assert status == 409 and body["code"] == "invitation_expired"


def test_without_invitation_link_nothing_is_emailed_and_resend_says_why(handlers, logto, monkeypatch):
    from orgapi.operations import services

    monkeypatch.delenv("INVITATION_LINK")
    services.services.cache_clear()
    fresh = {}
    for name in ("create_invitation", "send_invitation_message"):
        spec = importlib.util.spec_from_file_location(f"nolink_{name}", ROOT / "functions" / name / "app.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        fresh[name] = module.lambda_handler
    created = fresh["create_invitation"](event("create_invitation", body={"invitee": "x@example.com"}), Context())
    assert created["statusCode"] == 201 and '"email"' not in created["body"]
    resent = fresh["send_invitation_message"](event("send_invitation_message"), Context())
    assert resent["statusCode"] == 422 and '"invitation_email_disabled"' in resent["body"]
    assert outbox(logto) == []


# -- the invitee's side -----------------------------------------------------------------------------------------------
def expire(logto, invitation_id):
    """Move expiresAt into the past, as time would (Logto then reads the invitation as Expired)."""
    store = logto.app.config["store"]
    with store.lock:
        store.db.execute("UPDATE invitations SET expires_at = 1000 WHERE id = ?", (invitation_id,))


def test_invitee_lists_accepts_and_becomes_a_member_with_the_invitations_roles(handlers, logto):
    status, mine, _ = call(handlers, "list_own_invitations", authorizer=user_context())
    assert status == 200
    assert [(i["id"], i["organization"]["id"], [r["name"] for r in i["organizationRoles"]]) for i in mine] == [
        (SEEDED, "demo0org0001", ["member"])
    ]
    assert mine[0]["organization"]["name"]
    status, accepted, _ = call(handlers, "accept_invitation", authorizer=user_context())
    assert status == 200 and accepted["status"] == "Accepted"
    orgs = call(handlers, "list_organizations", authorizer=user_context())[1]
    assert [(o["id"], [r["name"] for r in o["organizationRoles"]]) for o in orgs] == [("demo0org0001", ["member"])]
    assert call(handlers, "list_own_invitations", authorizer=user_context())[1] == []
    again = call(handlers, "accept_invitation", authorizer=user_context())
    assert again[0] == 409 and again[1]["code"] == "invitation_not_pending"


def test_an_invitation_to_a_differently_cased_address_is_the_invitees(handlers, logto):
    created = invite(handlers, invitee="Carol@EXAMPLE.com")[1]
    mine = call(handlers, "list_own_invitations", authorizer=user_context("carol"))[1]
    assert [i["id"] for i in mine] == [created["id"]]
    status, _, _ = call(
        handlers, "accept_invitation", authorizer=user_context("carol"), path={"invitationId": created["id"]}
    )
    assert status == 200


@pytest.mark.parametrize("route", ["accept_invitation", "decline_invitation"])
def test_someone_elses_invitation_is_404_and_changes_nothing(handlers, logto, route):
    status, body, _ = call(handlers, route, authorizer=user_context("carol"))
    assert status == 404 and body == {"message": "No such invitation for you", "code": "invitation_not_found"}
    missing = call(handlers, route, authorizer=user_context("carol"), path={"invitationId": "nosuchinvite"})
    assert missing[1] == body  # no existence oracle
    assert "PUT /api/organization-invitations/demo0invite1/status" not in logto.stats()["routes"]
    assert call(handlers, "list_own_invitations", authorizer=user_context())[1][0]["status"] == "Pending"


def test_a_user_without_a_primary_email_has_no_invitations(handlers, logto):
    assert call(handlers, "list_own_invitations", authorizer=user_context("erin"))[:2] == (200, [])
    assert call(handlers, "accept_invitation", authorizer=user_context("erin"))[0] == 404


def test_expired_invitation_is_neither_listed_nor_acceptable(handlers, logto):
    expire(logto, SEEDED)
    assert call(handlers, "list_own_invitations", authorizer=user_context())[1] == []
    for route in ("accept_invitation", "decline_invitation"):
        status, body, _ = call(handlers, route, authorizer=user_context())
        assert status == 409 and body["code"] == "invitation_expired"


def test_decline_ends_the_invitation_without_a_membership(handlers, logto):
    status, declined, _ = call(handlers, "decline_invitation", authorizer=user_context())
    assert status == 200 and declined["status"] == "Revoked"
    assert call(handlers, "list_organizations", authorizer=user_context())[1] == []
    status, body, _ = call(handlers, "accept_invitation", authorizer=user_context())
    assert status == 409 and body["code"] == "invitation_not_pending"


def test_a_machine_token_cannot_act_as_an_invitee(handlers, logto):
    app = user_context(sub="app1", client="app1")
    for route in ("list_own_invitations", "accept_invitation", "decline_invitation"):
        status, body, _ = call(handlers, route, authorizer=app)
        assert status == 403 and body["code"] == "user_token_required"


def test_organization_tokens_cannot_use_the_invitee_routes(handlers, logto):
    status, body, _ = call(handlers, "accept_invitation", authorizer=org_context(sub="dave"))
    assert status == 403 and body["code"] == "wrong_token_kind"


def test_a_timed_out_email_send_is_reported_as_unknown_not_as_unsent(handlers, logto, monkeypatch):
    monkeypatch.setattr(Context, "get_remaining_time_in_millis", lambda self: 2500)
    logto.fault(pathPrefix="/api/organization-invitations/", method="POST", delayMs=2500, times=1)
    status, body, _ = invite(handlers)
    assert status == 201 and body["email"] == {"sent": None, "code": "logto_timeout"}


def test_resend_needs_member_invite_now_not_only_in_the_token(handlers, logto):
    stale = org_context(sub="bob", scopes="member:read member:invite")  # bob's role grants no member:invite today
    status, body, _ = call(handlers, "send_invitation_message", authorizer=stale, path={"invitationId": SEEDED})
    assert status == 403 and body["code"] == "missing_permission"
    assert logto.client.get("/__dev/outbox").get_json() == []


def test_accepting_writes_one_audit_line_without_the_email(handlers, logto, log_lines):
    assert call(handlers, "accept_invitation", authorizer=user_context())[0] == 200
    audits = [line["audit"] for line in log_lines() if line.get("message") == "audit"]
    assert audits == [
        {
            "actor": {"sub": "dave", "clientId": "spa"},
            "organizationId": None,
            "action": "accept_invitation",
            "targets": {"invitationId": SEEDED, "organizationId": "demo0org0001"},
            "status": 200,
        }
    ]
    assert "example.com" not in json.dumps(audits)
