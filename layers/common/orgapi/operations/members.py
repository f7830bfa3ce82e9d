"""List, add and remove members; replace a member's roles. Grants never exceed the caller's permissions now (no
escalation), removals and demotions need the rank to match (rank), and no change leaves an organization without a
member holding CREATOR_ROLE (orphan guard)."""

from __future__ import annotations

from orgapi import views
from orgapi.api import Request, Result
from orgapi.errors import NotFound
from orgapi.orphan_guard import guarded_change
from orgapi.roles import RoleCatalog
from orgapi.services import Services


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
    request.audit_targets["userIds"] = body.userIds
    roles = fresh_catalog(request, services).resolve(body.roleNames)
    request.audit_targets["roleNames"] = [r.name for r in roles]
    request.access.ensure_can_grant(roles)
    services.logto.add_members(organization_id, body.userIds, request.deadline)
    if roles:
        services.logto.assign_roles(organization_id, body.userIds, [r.id for r in roles], request.deadline)
    return Result(201, {"userIds": body.userIds, "roleNames": [r.name for r in roles]})


def remove_member(request: Request, services: Services) -> Result:
    organization_id, user_id = request.path["organizationId"], request.path["userId"]
    catalog = fresh_catalog(request, services)
    request.access.ensure_outranks(user_id, _current_roles(services, request, catalog, user_id))
    with guarded_change(services, organization_id, user_id, catalog, request.deadline):
        services.logto.remove_member(organization_id, user_id, request.deadline)  # 404 when not a member
    return Result(204)


def replace_member_roles(request: Request, services: Services) -> Result:
    from orgapi.models import ReplaceMemberRoles

    body = request.body(ReplaceMemberRoles)
    organization_id, user_id = request.path["organizationId"], request.path["userId"]
    catalog = fresh_catalog(request, services)
    roles = catalog.resolve(body.roleNames)
    request.audit_targets["roleNames"] = [r.name for r in roles]
    request.access.ensure_can_grant(roles)
    request.access.ensure_outranks(user_id, _current_roles(services, request, catalog, user_id))
    role_ids = [r.id for r in roles]
    if services.settings.creator_role in {r.name for r in roles}:
        services.logto.replace_member_roles(organization_id, user_id, role_ids, request.deadline)
    else:
        with guarded_change(services, organization_id, user_id, catalog, request.deadline):
            services.logto.replace_member_roles(organization_id, user_id, role_ids, request.deadline)
    return Result(200, {"userId": user_id, "roleNames": [r.name for r in roles]})


def fresh_catalog(request: Request, services: Services) -> RoleCatalog:
    """The role list read for this request: decisions about grants and rank never use an older one."""
    return request.access.catalog or services.roles.fresh(request.deadline)


def _current_roles(services: Services, request: Request, catalog: RoleCatalog, user_id: str):
    try:
        role_ids = services.logto.member_role_ids(request.path["organizationId"], user_id, request.deadline)
    except NotFound:
        raise NotFound("The user is not a member of this organization", code="member_not_found") from None
    return catalog.by_id(role_ids)
