"""The invitee's side, with a user's global API token: my pending invitations, accept one, decline one.

"Mine" means addressed to my primary e-mail in Logto, compared case-insensitively as Logto's own accept does
(`primaryEmail.toLowerCase() !== invitee.toLowerCase()` in packages/core/src/libraries/organization-invitation.ts).
Somebody else's invitation answers exactly like a missing one (404), so invitation ids cannot be probed.
Accepting does not re-check the inviter: the escalation rule ran when the invitation was created.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from orgapi.base.errors import Conflict, Forbidden, NotFound
from orgapi.base.observability import logger
from orgapi.base.side_by_side import together
from orgapi.contract import views
from orgapi.logto.http import LogtoError, NoAnswer
from orgapi.logto.management import StatusChangeRefused
from orgapi.operations import limits
from orgapi.operations.invitations import ensure_pending, now_ms
from orgapi.operations.request import Request, Result
from orgapi.operations.services import Services


def _missing(error: LogtoError) -> bool:
    return error.status == 404


def _not_found() -> NotFound:
    return NotFound("No such invitation for you", code="invitation_not_found")


def _primary_email(request: Request, services: Services) -> str | None:
    if not request.caller.is_user:
        raise Forbidden("Invitations belong to users; a machine token has none", code="user_token_required")
    try:
        user = services.logto.get_user(request.caller.subject, request.deadline)
    except LogtoError as error:
        if not _missing(error):
            raise
        return None  # a deleted user: nothing is addressed to them any more
    email = user.get("primaryEmail") if isinstance(user, dict) else None
    return email if isinstance(email, str) and email else None


def _addressed_to(invitation: Any, email: str) -> bool:
    invitee = invitation.get("invitee") if isinstance(invitation, dict) else None
    return isinstance(invitee, str) and invitee.lower() == email.lower()


def _is_pending(invitation: dict[str, Any], now: int) -> bool:
    expires_at = invitation.get("expiresAt")
    return invitation.get("status") == "Pending" and isinstance(expires_at, int | float) and expires_at > now


def list_own_invitations(request: Request, services: Services) -> Result:
    email = _primary_email(request, services)
    if email is None:
        return Result(200, [])
    now = now_ms()
    # Logto filters `invitee` case-insensitively; the e-mail is compared again here so that an implementation that
    # ignored the filter could never show somebody else's invitation.
    invitations = [
        i
        for i in services.logto.invitations_for(email, request.deadline)
        if _addressed_to(i, email) and _is_pending(i, now)
    ]

    def name_of(organization_id: str) -> tuple[str, Any] | None:
        try:
            return organization_id, services.logto.get_organization(organization_id, request.deadline).get("name")
        except LogtoError as error:
            if not _missing(error):
                raise
            return None  # deleted meanwhile (its invitations go with it)

    wanted = [o for o in dict.fromkeys(i.get("organizationId") for i in invitations) if isinstance(o, str)]
    # One read per organization, side by side.
    names: dict[str, Any] = dict(found for found in together(*(lambda o=o: name_of(o) for o in wanted)) if found)
    return Result(
        200,
        [
            {**views.invitation(i), "organization": {"id": i["organizationId"], "name": names[i["organizationId"]]}}
            for i in invitations
            if i.get("organizationId") in names
        ],
    )


def _own_pending_invitation(request: Request, services: Services) -> dict[str, Any]:
    email = _primary_email(request, services)
    try:
        invitation = request.invitation(services.logto)  # (started before the user's read above: side by side)
    except LogtoError as error:
        if not _missing(error):
            raise
        raise _not_found() from None
    if email is None or not _addressed_to(invitation, email):
        raise _not_found()
    request.audit_targets["organizationId"] = invitation.get("organizationId")  # which organization I join or decline
    ensure_pending(invitation)
    return invitation


def _settled(request: Request, services: Services, status: str, error: LogtoError | NoAnswer | None) -> dict[str, Any]:
    """After a refused or lost status change, read the invitation back and answer what happened in Logto."""
    try:
        invitation = services.logto.get_invitation(request.path["invitationId"], request.deadline)
    except LogtoError as failure:
        if _missing(failure):
            raise _not_found() from None
        if error is not None:
            raise error from None
        raise
    except NoAnswer:
        if error is not None:
            raise error from None
        raise
    mine = status != "Accepted" or invitation.get("acceptedUserId") == request.caller.subject
    if invitation.get("status") == status and mine:
        return invitation  # our change was made (its answer was lost, or a duplicate request made it first)
    ensure_pending(invitation)  # it ended meanwhile: 409
    if error is not None:
        raise error  # still pending: the change was not made
    # Still pending, yet Logto refused: the user's primary e-mail no longer matches the invitee.
    logger.info("invitation_change_refused", extra={"status": status})
    raise _not_found()


def accept_invitation(request: Request, services: Services) -> Result:
    pending = _own_pending_invitation(request, services)
    invitation_id, user_id = request.path["invitationId"], request.caller.subject
    organization_id = str(pending.get("organizationId") or "")
    if organization_id and services.logto.membership(organization_id, user_id, request.deadline) is not None:
        # An invitation is for joining. Accepted by a member, Logto would add its roles to theirs: a role change
        # that took only member:invite (an inviter can reach a member through a case variant of their e-mail).
        raise Conflict(
            "You are already a member of this organization; your roles are changed by its admins",
            code="already_member",
        )
    # Accepting adds a member: a place among MAX_MEMBERS_PER_ORG, counted in Logto under the organization's lease.
    with limits.member_places(request, services, organization_id, [user_id]) if organization_id else nullcontext():
        try:
            invitation = services.logto.accept_invitation(invitation_id, user_id, request.deadline)
        except StatusChangeRefused:
            invitation = _settled(request, services, "Accepted", None)
        except (LogtoError, NoAnswer) as error:
            if not error.maybe_applied:  # refused, or never sent: nothing happened
                raise
            invitation = _settled(request, services, "Accepted", error)
    request.changed(
        "invitation.accepted",
        organization_id,
        invitationId=invitation_id,
        userIds=[user_id],
    )
    return Result(200, views.invitation(invitation))


def decline_invitation(request: Request, services: Services) -> Result:
    invitation = _own_pending_invitation(request, services)
    try:
        declined = services.logto.revoke_invitation(request.path["invitationId"], request.deadline)
    except (LogtoError, NoAnswer) as error:
        ending = isinstance(error, LogtoError) and error.status == 422 and error.code == "request.invalid_input"
        if not (ending or error.maybe_applied):
            raise
        # an ending status after all (Logto: 422 request.invalid_input), or a lost answer: read it back
        declined = _settled(request, services, "Revoked", None if ending and not error.maybe_applied else error)
    request.changed(
        "invitation.declined",
        str(invitation.get("organizationId") or ""),
        invitationId=request.path["invitationId"],
    )
    return Result(200, views.invitation(declined or {**invitation, "status": "Revoked"}))
