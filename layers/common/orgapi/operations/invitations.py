"""List, create and revoke this organization's invitations (Logto's invitation ids are global: always check the owner)."""

from __future__ import annotations

import time

from orgapi import views
from orgapi.api import Request, Result
from orgapi.errors import Conflict, NotFound, Unprocessable
from orgapi.operations.members import fresh_catalog
from orgapi.services import Services

DAY_MS = 86_400_000


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
    from orgapi.models import CreateInvitation  # pydantic is loaded only by operations that parse input

    body = request.body(CreateInvitation)
    roles = fresh_catalog(request, services).resolve(body.roleNames)
    request.access.ensure_can_grant(roles)
    payload = {
        "invitee": body.invitee,
        "organizationId": request.path["organizationId"],  # from the path, never from the body
        "expiresAt": int(time.time() * 1000) + body.expiresInDays * DAY_MS,
        "organizationRoleIds": [r.id for r in roles],
        "messagePayload": False,  # no e-mail from Logto; the client app delivers the invitation link
    }
    if request.caller.is_user:
        payload["inviterId"] = request.caller.subject
    invitation = services.logto.create_invitation(payload, request.deadline)
    return Result(201, views.invitation(invitation))


def revoke_invitation(request: Request, services: Services) -> Result:
    organization_id, invitation_id = request.path["organizationId"], request.path["invitationId"]
    not_found = NotFound("No such invitation in this organization", code="invitation_not_found")
    try:
        invitation = services.logto.get_invitation(invitation_id, request.deadline)
    except NotFound:
        raise not_found from None
    if not isinstance(invitation, dict) or invitation.get("organizationId") != organization_id:
        raise not_found  # another organization's invitation looks exactly like a missing one
    try:
        services.logto.revoke_invitation(invitation_id, request.deadline)
    except Unprocessable:
        raise Conflict("The invitation is no longer pending", code="invitation_not_pending") from None
    return Result(204)
