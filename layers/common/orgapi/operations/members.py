"""List, add and remove members; replace a member's roles. Grants never exceed the caller's permissions now (no
escalation), removals and demotions need the rank to match (rank), and no change leaves an organization without a
member holding CREATOR_ROLE (orphan guard)."""

from __future__ import annotations

from orgapi.base.errors import NotFound
from orgapi.base.observability import logger
from orgapi.contract import views
from orgapi.operations import limits
from orgapi.operations.request import Request, Result
from orgapi.operations.services import Services
from orgapi.outcomes import changes
from orgapi.outcomes.cleanup import STRANDED_MEMBER
from orgapi.rules.orphan_guard import guarded_change
from orgapi.rules.roles import RoleCatalog


def list_members(request: Request, services: Services) -> Result:
    from orgapi.contract.models import MembersQuery  # pydantic is loaded only by operations that parse input

    query = request.query_as(MembersQuery)
    filters = {"q": query.q} if query.q else {}
    members, total = services.logto.list_members(
        request.path["organizationId"], request.deadline, page=query.page, page_size=query.page_size, **filters
    )
    headers = {"Total-Number": str(total)} if total is not None else {}
    return Result(200, [views.member(m) for m in members if isinstance(m, dict)], headers)


def add_members(request: Request, services: Services) -> Result:
    from orgapi.contract.models import AddMembers

    body = request.body(AddMembers)
    organization_id = request.path["organizationId"]
    request.audit_targets["userIds"] = body.userIds
    roles = fresh_catalog(request, services).resolve(body.roleNames)
    request.audit_targets["roleNames"] = [r.name for r in roles]
    request.access.ensure_can_grant(roles)
    role_ids = [r.id for r in roles]

    def stranded(user_ids: list[str]) -> None:  # added, role grant failed, removal failed too: the clean-up run
        for user_id in user_ids:
            data = {"organization_id": organization_id, "user_id": user_id, "role_ids": role_ids}
            try:
                services.cleanups.begin(STRANDED_MEMBER, f"{organization_id}#{user_id}", data, 0)  # type: ignore[union-attr]
            except Exception as exc:  # the request fails anyway; the log line names what is left
                logger.error("stranded_member_not_recorded", extra={"user_id": user_id, "error": type(exc).__name__})

    def existing_members_get_roles(existing: set[str]) -> None:
        # Giving roles to someone already a member is a role change: it takes role:assign, as PUT .../roles does.
        if existing:
            request.access.require(_role_assign(services))

    # All or nothing: members whose role grant fails are removed again (orgapi.outcomes.changes.add_members). Under
    # the organization's lease when roles are granted (a rank check beside it sees the grant or not at all), as it is
    # when the member limit is counted.
    with limits.member_places(request, services, organization_id, body.userIds, leased=bool(roles)):
        changes.add_members(
            services.logto,
            organization_id,
            body.userIds,
            role_ids,
            request.deadline,
            stranded,
            existing_members_get_roles,
        )
    request.changed(
        "member.added",
        organization_id,
        userIds=body.userIds,
        roleNames=[r.name for r in roles],
    )
    return Result(201, {"userIds": body.userIds, "roleNames": [r.name for r in roles]})


def remove_member(request: Request, services: Services) -> Result:
    organization_id, user_id = request.path["organizationId"], request.path["userId"]
    catalog = fresh_catalog(request, services)
    # Rank and the orphan guard are read under the lease: a promotion or removal beside this one cannot slip between.
    target = lambda: _current_roles(services, request, catalog, user_id)  # noqa: E731  (read beside the guard's)
    lease = request.lease(services.leases(), organization_id)
    with guarded_change(
        services, organization_id, lease, user_id, catalog, request.deadline, beside=target
    ) as target_roles:
        request.access.ensure_outranks(user_id, target_roles)
        changes.remove_member(services.logto, organization_id, user_id, request.deadline)  # 404 when not a member
    request.changed("member.removed", organization_id, userIds=[user_id])
    return Result(204)


def replace_member_roles(request: Request, services: Services) -> Result:
    from orgapi.contract.models import ReplaceMemberRoles

    body = request.body(ReplaceMemberRoles)
    organization_id, user_id = request.path["organizationId"], request.path["userId"]
    catalog = fresh_catalog(request, services)
    roles = catalog.resolve(body.roleNames)
    request.audit_targets["roleNames"] = [r.name for r in roles]
    request.access.ensure_can_grant(roles)
    role_ids = [r.id for r in roles]
    keeps_creator = services.settings.creator_role in {r.name for r in roles}
    # Under the lease (always: a promotion must not slip between another request's rank check and its change).
    target = lambda: _current_roles(services, request, catalog, user_id)  # noqa: E731  (read beside the guard's)
    lease = request.lease(services.leases(), organization_id)
    with guarded_change(
        services,
        organization_id,
        lease,
        user_id,
        catalog,
        request.deadline,
        orphan_check=not keeps_creator,
        beside=target,
    ) as target_roles:
        request.access.ensure_outranks(user_id, target_roles)
        unchanged = {r.id for r in target_roles} == set(role_ids)  # read under the lease: nothing can change it
        changes.replace_member_roles(services.logto, organization_id, user_id, role_ids, request.deadline)
    if not unchanged:  # the same roles again changed nothing in Logto: no entry, no event (found in review)
        request.changed(
            "member.roles_replaced",
            organization_id,
            userIds=[user_id],
            roleNames=[r.name for r in roles],
        )
    return Result(200, {"userId": user_id, "roleNames": [r.name for r in roles]})


def _role_assign(services: Services) -> str | None:
    from orgapi.contract.routes import ROUTES_BY_NAME, required_permission

    return required_permission(ROUTES_BY_NAME["replace_member_roles"], services.settings.permission_overrides)


def fresh_catalog(request: Request, services: Services) -> RoleCatalog:
    """The role list read for this request: decisions about grants and rank never use an older one."""
    return request.access.catalog or services.roles.fresh(request.deadline)


def _current_roles(services: Services, request: Request, catalog: RoleCatalog, user_id: str):
    role_ids = services.logto.membership(request.path["organizationId"], user_id, request.deadline)
    if role_ids is None:
        raise NotFound("The user is not a member of this organization", code="member_not_found")
    return catalog.by_id(role_ids)
