"""The invitee's routes against a scripted Management API: what only a fake can arrange (lost answers, a refusal
racing another change, a filter that was not applied). Logto's own behaviour is exercised in test_invitations.py
against the stand-in, and end to end in tests/e2e/test_invitations.py."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from orgapi.base.deadline import Deadline
from orgapi.base.errors import Conflict, Forbidden, NotFound
from orgapi.contract.routes import ROUTES_BY_NAME, TokenKind
from orgapi.logto.http import LogtoError, NoAnswer
from orgapi.logto.management import StatusChangeRefused
from orgapi.operations import invitee
from orgapi.operations.request import Request
from orgapi.tokens.identity import Caller

DAY_MS = 86_400_000


def now_ms():
    return int(time.time() * 1000)


def invitation(id="inv1", invitee="Dave@Example.com", status="Pending", expires_in=DAY_MS, org="o1", **extra):
    return {
        "id": id,
        "invitee": invitee,
        "status": status,
        "organizationId": org,
        "inviterId": "alice",
        "expiresAt": now_ms() + expires_in,
        "createdAt": 1,
        "updatedAt": 1,
        "organizationRoles": [{"id": "r-member", "name": "member"}],
        **extra,
    }


class ScriptedLogto:
    """Holds invitations and users; `on_accept` / `on_revoke` script what the status change does."""

    def __init__(self, invitations, email="dave@example.com"):
        self.invitations = {i["id"]: i for i in invitations}
        self.email = email
        self.calls: list[tuple] = []
        self.on_accept = self.on_revoke = None
        self.ignore_invitee_filter = False

    def get_user(self, user_id, deadline):
        self.calls.append(("get_user", user_id))
        if user_id == "ghost":
            raise LogtoError(404, "entity.not_exists_with_id")
        return {"id": user_id, "primaryEmail": self.email}

    def invitations_for(self, email, deadline):
        self.calls.append(("invitations_for", email))
        if self.ignore_invitee_filter:
            return list(self.invitations.values())
        return [i for i in self.invitations.values() if i["invitee"].lower() == email.lower()]

    def membership(self, organization_id, user_id, deadline):
        self.calls.append(("membership", organization_id, user_id))
        return None  # the invitee is not a member yet (tests/e2e covers an existing member)

    def get_invitation(self, invitation_id, deadline):
        self.calls.append(("get_invitation", invitation_id))
        if invitation_id not in self.invitations:
            raise LogtoError(404, "entity.not_exists_with_id")
        return dict(self.invitations[invitation_id])

    def get_organization(self, organization_id, deadline):
        self.calls.append(("get_organization", organization_id))
        if organization_id == "gone":
            raise LogtoError(404, "entity.not_exists_with_id")
        return {"id": organization_id, "name": f"Org {organization_id}"}

    def accept_invitation(self, invitation_id, user_id, deadline):
        self.calls.append(("accept", invitation_id, user_id))
        return self.on_accept(self.invitations[invitation_id], user_id)

    def revoke_invitation(self, invitation_id, deadline):
        self.calls.append(("revoke", invitation_id))
        return self.on_revoke(self.invitations[invitation_id])


def request(name, *, sub="dave", client="spa", invitation_id="inv1"):
    caller = Caller(sub, client, TokenKind.GLOBAL_API, None, frozenset(), time.time() + 600)
    path = {} if name == "list_own_invitations" else {"invitationId": invitation_id}
    return Request(ROUTES_BY_NAME[name], caller, path, {}, {}, None, Deadline.after(5))


def services(logto):
    return SimpleNamespace(logto=logto, settings=SimpleNamespace(), audit=None)


def accepted_by(user):
    def accept(inv, user_id):
        inv.update(status="Accepted", acceptedUserId=user_id)
        return dict(inv)

    return accept


# -- listing ----------------------------------------------------------------------------------------------------------
def test_lists_pending_unexpired_invitations_for_the_primary_email_whatever_its_case():
    logto = ScriptedLogto(
        [
            invitation("a", "DAVE@example.COM"),
            invitation("b", status="Accepted"),
            invitation("c", expires_in=-1000),  # Logto's stored status says Pending; expiresAt has passed
            invitation("d", status="Revoked"),
            invitation("e", org="gone"),
            invitation("f", "dave@example.com", org="o2"),
        ]
    )
    result = invitee.list_own_invitations(request("list_own_invitations"), services(logto))
    assert result.status == 200
    assert [(i["id"], i["organization"]) for i in result.body] == [
        ("a", {"id": "o1", "name": "Org o1"}),
        ("f", {"id": "o2", "name": "Org o2"}),
    ]
    assert result.body[0]["organizationRoles"] == [{"id": "r-member", "name": "member"}]
    assert ("invitations_for", "dave@example.com") in logto.calls


def test_an_ignored_invitee_filter_never_shows_somebody_elses_invitation():
    logto = ScriptedLogto([invitation("a", "erin@example.com"), invitation("b")])
    logto.ignore_invitee_filter = True
    result = invitee.list_own_invitations(request("list_own_invitations"), services(logto))
    assert [i["id"] for i in result.body] == ["b"]


@pytest.mark.parametrize("email", [None, ""])
def test_no_primary_email_lists_nothing_and_asks_logto_for_no_invitations(email):
    logto = ScriptedLogto([invitation()], email=email)
    assert invitee.list_own_invitations(request("list_own_invitations"), services(logto)).body == []
    assert not any(c[0] == "invitations_for" for c in logto.calls)


def test_a_machine_token_has_no_invitations():
    with pytest.raises(Forbidden) as info:
        invitee.list_own_invitations(request("list_own_invitations", sub="app1", client="app1"), services(None))
    assert info.value.code == "user_token_required"


# -- accept -----------------------------------------------------------------------------------------------------------
def test_accept_lets_logto_add_the_membership_in_one_call():
    logto = ScriptedLogto([invitation()])
    logto.on_accept = accepted_by("dave")
    result = invitee.accept_invitation(request("accept_invitation"), services(logto))
    assert result.status == 200 and result.body["status"] == "Accepted"
    assert ("accept", "inv1", "dave") in logto.calls


@pytest.mark.parametrize(
    "case",
    ["missing", "someone_elses", "no_email", "deleted_user"],
)
def test_not_mine_is_indistinguishable_from_missing(case):
    logto = ScriptedLogto([invitation(invitee="erin@example.com" if case == "someone_elses" else "dave@example.com")])
    if case == "no_email":
        logto.email = None
    sub = "ghost" if case == "deleted_user" else "dave"
    invitation_id = "nope" if case == "missing" else "inv1"
    with pytest.raises(NotFound) as info:
        invitee.accept_invitation(request("accept_invitation", sub=sub, invitation_id=invitation_id), services(logto))
    assert (info.value.status, info.value.code, info.value.message) == (
        404,
        "invitation_not_found",
        "No such invitation for you",
    )
    assert not any(c[0] == "accept" for c in logto.calls)


@pytest.mark.parametrize(
    "status,expires_in,code",
    [
        ("Accepted", DAY_MS, "invitation_not_pending"),
        ("Revoked", DAY_MS, "invitation_not_pending"),
        ("Expired", -1000, "invitation_expired"),
        ("Pending", -1000, "invitation_expired"),
    ],
)
def test_only_pending_unexpired_invitations_change(status, expires_in, code):
    logto = ScriptedLogto([invitation(status=status, expires_in=expires_in)])
    for name in ("accept_invitation", "decline_invitation"):
        with pytest.raises(Conflict) as info:
            getattr(invitee, name)(request(name), services(logto))
        assert info.value.code == code
    assert not any(c[0] in ("accept", "revoke") for c in logto.calls)


def test_a_lost_answer_after_logto_accepted_is_a_success():
    logto = ScriptedLogto([invitation()])

    def accept_then_lose_the_answer(inv, user_id):
        accepted_by("dave")(inv, user_id)
        raise NoAnswer("timeout", maybe_applied=True)

    logto.on_accept = accept_then_lose_the_answer
    result = invitee.accept_invitation(request("accept_invitation"), services(logto))
    assert result.body["status"] == "Accepted"


def test_a_lost_answer_when_nothing_changed_is_the_error():
    logto = ScriptedLogto([invitation()])

    def lose(inv, user_id):
        raise NoAnswer("timeout", maybe_applied=True)

    logto.on_accept = lose
    with pytest.raises(NoAnswer):  # the handler maps it to 504 (orgapi.logto.upstream)
        invitee.accept_invitation(request("accept_invitation"), services(logto))


def test_a_refusal_because_it_ended_meanwhile_is_409():
    logto = ScriptedLogto([invitation()])

    def revoked_by_an_admin_first(inv, user_id):
        inv.update(status="Revoked")
        raise StatusChangeRefused()

    logto.on_accept = revoked_by_an_admin_first
    with pytest.raises(Conflict) as info:
        invitee.accept_invitation(request("accept_invitation"), services(logto))
    assert info.value.code == "invitation_not_pending"


def test_a_refusal_while_still_pending_means_the_email_no_longer_matches():
    logto = ScriptedLogto([invitation()])

    def email_changed(inv, user_id):
        raise StatusChangeRefused()

    logto.on_accept = email_changed
    with pytest.raises(NotFound):
        invitee.accept_invitation(request("accept_invitation"), services(logto))


def test_accepted_by_somebody_else_meanwhile_is_not_our_success():
    logto = ScriptedLogto([invitation()])

    def other_user(inv, user_id):
        inv.update(status="Accepted", acceptedUserId="dave2")
        raise StatusChangeRefused()

    logto.on_accept = other_user
    with pytest.raises(Conflict):
        invitee.accept_invitation(request("accept_invitation"), services(logto))


# -- decline ----------------------------------------------------------------------------------------------------------
def test_decline_revokes_only_the_invitees_own_invitation():
    logto = ScriptedLogto([invitation(), invitation("other", invitee="erin@example.com")])

    def revoke(inv):
        inv.update(status="Revoked")
        return dict(inv)

    logto.on_revoke = revoke
    assert invitee.decline_invitation(request("decline_invitation"), services(logto)).body["status"] == "Revoked"
    with pytest.raises(NotFound):
        invitee.decline_invitation(request("decline_invitation", invitation_id="other"), services(logto))
    assert logto.invitations["other"]["status"] == "Pending"


def test_decline_refused_because_accepted_meanwhile_is_409():
    logto = ScriptedLogto([invitation()])

    def accepted_first(inv):
        inv.update(status="Accepted", acceptedUserId="dave")
        raise LogtoError(422, "request.invalid_input")

    logto.on_revoke = accepted_first
    with pytest.raises(Conflict):
        invitee.decline_invitation(request("decline_invitation"), services(logto))
