"""List, create, revoke and re-send this organization's invitations (Logto's invitation ids are global: always check
the owner). With INVITATION_LINK set, every invitation created is e-mailed once by Logto with its own link."""

from __future__ import annotations

import time
from typing import Any

from orgapi.base.config import invitation_link_for
from orgapi.base.deadline import Deadline
from orgapi.base.errors import ApiError, Conflict, NotFound, Unprocessable
from orgapi.base.observability import logger
from orgapi.contract import views
from orgapi.logto.http import LogtoError, NoAnswer
from orgapi.logto.upstream import api_error
from orgapi.operations import limits
from orgapi.operations.members import fresh_catalog
from orgapi.operations.request import Request, Result
from orgapi.operations.services import Services
from orgapi.outcomes import changes

DAY_MS = 86_400_000
ENDING_STATUSES = ("Accepted", "Revoked", "Expired")  # Logto's endingStatuses (libraries/organization-invitation.ts)


def now_ms() -> int:
    return int(time.time() * 1000)


def ensure_pending(invitation: dict[str, Any]) -> None:
    """409 unless the invitation can still change: Pending and unexpired. Logto computes `Expired` when reading, but
    only from its own clock at that moment; `expiresAt` is checked here too so an invitation expiring between the
    read and the change is not treated as pending."""
    status, expires_at = invitation.get("status"), invitation.get("expiresAt")
    expired = isinstance(expires_at, int | float) and expires_at <= now_ms()
    if status == "Expired" or (status == "Pending" and expired):
        raise Conflict("The invitation has expired", code="invitation_expired")
    if status != "Pending":
        shown = status if status in ENDING_STATUSES else "ended"
        raise Conflict(f"The invitation is no longer pending ({shown})", code="invitation_not_pending")


def list_invitations(request: Request, services: Services) -> Result:
    organization_id = request.path["organizationId"]
    invitations = services.logto.list_invitations(organization_id, request.deadline)
    return Result(
        200,
        [
            views.invitation(i)
            for i in invitations
            if isinstance(i, dict) and i.get("organizationId") == organization_id
        ],
    )


def create_invitation(request: Request, services: Services) -> Result:
    from orgapi.contract.models import CreateInvitation  # pydantic is loaded only by operations that parse input

    body = request.body(CreateInvitation)
    roles = fresh_catalog(request, services).resolve(body.roleNames)
    request.audit_targets["roleNames"] = [r.name for r in roles]
    request.access.ensure_can_grant(roles)
    payload = {
        "invitee": body.invitee,
        "organizationId": request.path["organizationId"],  # from the path, never from the body
        "expiresAt": now_ms() + body.expiresInDays * DAY_MS,
        "organizationRoleIds": [r.id for r in roles],
        # Never an e-mail at creation: Logto makes the id in this call, so the link (which needs the id) cannot be
        # given yet. With INVITATION_LINK the e-mail follows through /message; a client never chooses the link.
        "messagePayload": False,
    }
    if request.caller.is_user:
        payload["inviterId"] = request.caller.subject
    # Places: the e-mail's (rate limits) and a pending invitation's (counted in Logto, under the lease).
    organization_id = request.path["organizationId"]
    limits.start_email_places(request, services, organization_id, body.invitee)  # beside the lease and the count
    with (
        limits.pending_invitation_place(request, services, organization_id) as held,
        limits.email_places(request, services, organization_id, body.invitee) as places,
    ):
        invitation = changes.create_invitation(services.logto, payload, request.deadline)
        if held is not None:
            held.release()  # made: the lease is released beside the audit write and the e-mail
        request.audit_targets["invitationId"] = invitation.get("id") if isinstance(invitation, dict) else None
        request.changed(
            "invitation.created",
            organization_id,
            invitationId=request.audit_targets["invitationId"],
            roleNames=request.audit_targets["roleNames"],
        )
        result = views.invitation(invitation)
        template = services.settings.invitation_link
        if template:
            result["email"] = places.emailed(_email_once(services, template, invitation.get("id"), request.deadline))
    return Result(201, result)


def _email_once(services: Services, template: str, invitation_id: Any, deadline: Deadline) -> dict[str, Any]:
    """Send the invitation e-mail; a failure keeps the invitation (it exists in Logto) and says so in the answer,
    with our error code, so the app can show it and re-send with POST .../message."""
    if not isinstance(invitation_id, str) or not invitation_id:
        return {"sent": False, "code": "logto_bad_response"}
    try:
        services.logto.send_invitation_message(
            invitation_id, {"link": invitation_link_for(template, invitation_id)}, deadline
        )
    except (ApiError, LogtoError, NoAnswer) as failure:
        error = failure if isinstance(failure, ApiError) else api_error(failure)
        logger.warning("invitation_email_failed", extra={"invitation_id": invitation_id, "code": error.code})
        # A call whose answer was lost may have been sent all the same: null says "unknown" rather than claim it was
        # not (a POST is never repeated, so the e-mail went out at most once).
        unknown = isinstance(failure, (LogtoError, NoAnswer)) and failure.maybe_applied
        return {"sent": None if unknown else False, "code": error.code}
    return {"sent": True}


def _this_organizations_invitation(request: Request, services: Services) -> dict[str, Any]:
    organization_id = request.path["organizationId"]
    not_found = NotFound("No such invitation in this organization", code="invitation_not_found")
    try:
        invitation = request.invitation(services.logto)
    except LogtoError as error:
        if error.status != 404:
            raise
        raise not_found from None
    if not isinstance(invitation, dict) or invitation.get("organizationId") != organization_id:
        raise not_found  # another organization's invitation looks exactly like a missing one
    return invitation


def revoke_invitation(request: Request, services: Services) -> Result:
    result = _revoke(request, services)  # every way it answers 204 is a revocation that happened
    request.changed(
        "invitation.revoked",
        request.path["organizationId"],
        invitationId=request.path["invitationId"],
    )
    return result


def _revoke(request: Request, services: Services) -> Result:
    invitation = _this_organizations_invitation(request, services)
    if invitation.get("status") != "Pending":
        raise _not_pending()  # revoked, accepted or expired before this request
    try:
        # A PUT sets a state: the sender repeats it after a lost answer. Its second answer is then Logto's "status
        # cannot be changed anymore" (422 request.invalid_input, libraries/organization-invitation.ts updateStatus),
        # which is read by looking at the invitation again; any other refusal (a quota, say) keeps its meaning.
        services.logto.revoke_invitation(request.path["invitationId"], request.deadline)
    except (LogtoError, NoAnswer) as failure:
        ending = isinstance(failure, LogtoError) and failure.status == 422 and failure.code == "request.invalid_input"
        ours = failure.maybe_applied  # an attempt of ours was carried out, its answer lost
        if not (ending or ours):
            raise
        try:
            now = _this_organizations_invitation(request, services)
        except ApiError:
            if isinstance(failure, LogtoError) and failure.after_lost_answer:
                return Result(204)  # gone (the DELETE fallback removed it): our own earlier attempt did that
            raise failure from None
        if now.get("status") == "Revoked" and ours:
            return Result(204)  # it was pending when we started: our attempt whose answer was lost revoked it
        if ending:
            raise _not_pending() from None
        raise
    return Result(204)


def _not_pending() -> Conflict:
    return Conflict("The invitation is no longer pending", code="invitation_not_pending")


def send_invitation_message(request: Request, services: Services) -> Result:
    """E-mail a pending invitation of this organization again (Logto itself would send one for any invitation)."""
    template = services.settings.invitation_link
    if not template:
        raise Unprocessable(
            "Invitation e-mails are not configured for this API (INVITATION_LINK)", code="invitation_email_disabled"
        )
    invitation = _this_organizations_invitation(request, services)
    ensure_pending(invitation)
    invitation_id = request.path["invitationId"]
    # The e-mail's places (rate limits) are given back when it surely was not sent (the send raised).
    with limits.email_places(request, services, request.path["organizationId"], str(invitation.get("invitee") or "")):
        try:
            services.logto.send_invitation_message(
                invitation_id, {"link": invitation_link_for(template, invitation_id)}, request.deadline
            )
        except (LogtoError, NoAnswer) as failure:
            if not failure.maybe_applied:
                raise
            # The answer was lost: the e-mail may have gone out, and Logto keeps no record to read back. Say exactly
            # that (202, sent unknown) rather than report a failure for what may have happened.
            logger.warning("invitation_email_outcome_unknown", extra={"invitation_id": invitation_id})
            return Result(202, {"sent": None, "code": api_error(failure).code})
    # Sent (204): the one outcome recorded. The 202 above records nothing: nobody knows whether it went out.
    request.changed(
        "invitation.message_sent",
        request.path["organizationId"],
        invitationId=invitation_id,
    )
    return Result(204)
