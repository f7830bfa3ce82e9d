"""The caller's own membership: what may I do here now (GET members/me), and leaving (DELETE members/me).

Both read the caller's roles from Logto for this request (access.py), whatever the token says: an app shows or hides
actions by what this service will allow now, and a caller removed since the token was issued gets 403.
"""

from __future__ import annotations

from orgapi.base.errors import Forbidden
from orgapi.logto.http import LogtoError
from orgapi.operations.members import fresh_catalog
from orgapi.operations.request import Request, Result
from orgapi.operations.services import Services
from orgapi.outcomes import changes
from orgapi.rules.orphan_guard import guarded_change


def get_own_membership(request: Request, services: Services) -> Result:
    # Live even with LIVE_PERMISSIONS=off: this route exists to say what Logto holds now.
    access = request.access if request.access.live else services.access.current(request.caller, request.deadline)
    return Result(
        200,
        {
            "userId": request.caller.subject,
            "organizationRoles": [{"id": role.id, "name": role.name} for role in access.roles],
            # Effective permissions: the token's scopes that the caller's roles still grant. A permission gained
            # since the token was issued shows once the app fetches a new token (it could not be used before).
            "permissions": sorted(access.permissions),
        },
    )


def leave_organization(request: Request, services: Services) -> Result:
    """Leaving needs no permission, only membership; the last CREATOR_ROLE holder must hand over first (409)."""
    if not request.caller.is_user:
        raise Forbidden("An application is removed from an organization by its admins", code="user_token_required")
    organization_id, user_id = request.path["organizationId"], request.caller.subject
    if not request.access.live:  # LIVE_PERMISSIONS=off: membership is still checked before anything changes
        services.access.current(request.caller, request.deadline)
    catalog = fresh_catalog(request, services)
    lease = request.lease(services.leases(), organization_id)
    with guarded_change(services, organization_id, lease, user_id, catalog, request.deadline):
        try:
            changes.remove_member(services.logto, organization_id, user_id, request.deadline)
        except LogtoError as error:
            if error.status != 404:
                raise  # (404: not a member any more, which is what leaving asked for)
        else:  # (not on that 404: somebody else's change took the membership away, not this request)
            request.changed("member.left", organization_id, userIds=[user_id])
    return Result(204)
