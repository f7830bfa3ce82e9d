"""List, add and remove members; replace a member's roles. Role grants never exceed the caller's own permissions,
and no change may leave an organization without a member holding CREATOR_ROLE."""

from __future__ import annotations

from orgapi import views
from orgapi.api import Request, Result
from orgapi.deadline import Deadline
from orgapi.errors import Conflict
from orgapi.roles import ensure_no_escalation
from orgapi.services import Services

PAGE = 100


def list_members(request: Request, services: Services) -> Result:
    from orgapi.models import MembersQuery  # pydantic is loaded only by operations that parse input

    query = request.query_as(MembersQuery)
    filters = {"q": query.q} if query.q else {}
    members, total = services.logto.list_members(
        request.path["organizationId"], request.deadline, page=query.page, page_size=query.page_size, **filters
    )
    headers = {"Total-Number": str(total)} if total is not None else {}
    return Result(200, [views.member(m) for m in members if isinstance(m, dict)], headers)


def add_members(request: Request, services: Services) -> Result:
    from orgapi.models import AddMembers

    body = request.body(AddMembers)
    organization_id = request.path["organizationId"]
    roles = services.roles.resolve(body.roleNames, request.deadline)
    ensure_no_escalation(request.caller, roles)
    services.logto.add_members(organization_id, body.userIds, request.deadline)
    if roles:
        services.logto.assign_roles(organization_id, body.userIds, [r.id for r in roles], request.deadline)
    return Result(201, {"userIds": body.userIds, "roleNames": [r.name for r in roles]})


def remove_member(request: Request, services: Services) -> Result:
    organization_id, user_id = request.path["organizationId"], request.path["userId"]
    _ensure_not_last_creator(services, organization_id, user_id, request.deadline)
    services.logto.remove_member(organization_id, user_id, request.deadline)  # 404 when not a member
    return Result(204)


def replace_member_roles(request: Request, services: Services) -> Result:
    from orgapi.models import ReplaceMemberRoles

    body = request.body(ReplaceMemberRoles)
    organization_id, user_id = request.path["organizationId"], request.path["userId"]
    roles = services.roles.resolve(body.roleNames, request.deadline)
    ensure_no_escalation(request.caller, roles)
    if services.settings.creator_role not in {r.name for r in roles}:
        _ensure_not_last_creator(services, organization_id, user_id, request.deadline)
    # Logto answers 422 require_membership for a non-member, which maps to 404.
    services.logto.replace_member_roles(organization_id, user_id, [r.id for r in roles], request.deadline)
    return Result(200, {"userId": user_id, "roleNames": [r.name for r in roles]})


def _names(roles: list) -> set[str]:
    return {r["name"] for r in roles if isinstance(r, dict) and isinstance(r.get("name"), str)}


def _ensure_not_last_creator(services: Services, organization_id: str, user_id: str, deadline: Deadline) -> None:
    """409 if the user is the organization's only member holding CREATOR_ROLE (the change would orphan it).

    Reads the creator-role holders from the member list (filtered by role; each member's roles are still checked in
    case the filter was not applied) and stops as soon as another holder is found.
    """
    name = services.settings.creator_role
    creator = services.roles.by_name(name, deadline)
    filters = {"organizationRoleId": creator.id} if creator else {}
    user_holds_role = False
    page = 1
    while True:
        members, _ = services.logto.list_members(organization_id, deadline, page=page, page_size=PAGE, **filters)
        for member in members:
            if isinstance(member, dict) and name in _names(member.get("organizationRoles") or []):
                if member.get("id") != user_id:
                    return
                user_holds_role = True
        if len(members) < PAGE:
            break
        page += 1
    if user_holds_role:
        raise Conflict(f"The organization would have no member with the {name} role", code="last_creator")
