"""The one route table: which operation serves which route, for which token kind, behind which permission.

`template.yaml`, the authorizer's policy, the operations' defence-in-depth checks and the tests all read this table
(a contract test keeps the template in step with it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from orgapi.contract.kinds import TokenKind

ORGANIZATION_KINDS = frozenset({TokenKind.ORGANIZATION, TokenKind.ORGANIZATION_API})


@dataclass(frozen=True)
class Route:
    """One route of the contract: its operation, method and path, and the permission and token kinds it takes."""

    name: str  # operation name = functions/<name>/
    method: str
    path: str  # API Gateway path template
    kinds: frozenset[TokenKind]
    permission: str | None  # default permission name; None = any valid token of an allowed kind
    live_always: bool = False  # re-derive the caller's permissions from Logto even though it is a read (access.py)
    uses_table: bool = False  # needs the stack's DynamoDB table (IDEMPOTENCY_TABLE), checked at cold start
    # Request models (names in orgapi.contract.models): input is validated before any Logto call, the live permission read
    # included, so bad input costs Logto nothing.
    body: str | None = None
    query: str | None = None

    @property
    def organization_scoped(self) -> bool:
        return "{organizationId}" in self.path

    def resource_path(self, organization_id: str | None) -> str:
        """The path as written into a policy ARN: the token's own organization, `*` for any other parameter."""
        path = self.path
        if self.organization_scoped:
            if not organization_id:
                raise ValueError("an organization route needs the token's organization id")
            path = path.replace("{organizationId}", organization_id)
        return re.sub(r"\{[^}]+\}", "*", path)


_GLOBAL = frozenset({TokenKind.GLOBAL_API})
# Creating takes a user's global API token (org:create from a global role) or, as in Logto's own guide, an organization
# token whose organization permissions include org:create. Organization API tokens are refused here.
_CREATORS = frozenset({TokenKind.GLOBAL_API, TokenKind.ORGANIZATION})

ROUTES: tuple[Route, ...] = (
    Route(
        "create_organization",
        "POST",
        "/organizations",
        _CREATORS,
        "org:create",
        uses_table=True,
        body="CreateOrganization",
    ),
    Route("list_organizations", "GET", "/organizations", _GLOBAL, None),
    Route("get_organization", "GET", "/organizations/{organizationId}", ORGANIZATION_KINDS, None),
    Route(
        "update_organization",
        "PATCH",
        "/organizations/{organizationId}",
        ORGANIZATION_KINDS,
        "org:update",
        body="UpdateOrganization",
    ),
    Route("delete_organization", "DELETE", "/organizations/{organizationId}", ORGANIZATION_KINDS, "org:delete"),
    Route(
        "list_members",
        "GET",
        "/organizations/{organizationId}/members",
        ORGANIZATION_KINDS,
        "member:read",
        query="MembersQuery",
    ),
    Route(
        "add_members",
        "POST",
        "/organizations/{organizationId}/members",
        ORGANIZATION_KINDS,
        "member:add",
        uses_table=True,  # the lease: granting roles must not slip between another request's rank check and change
        body="AddMembers",
    ),
    Route(
        "remove_member",
        "DELETE",
        "/organizations/{organizationId}/members/{userId}",
        ORGANIZATION_KINDS,
        "member:remove",
        uses_table=True,  # the orphan guard's per-organization lease
    ),
    Route(
        "replace_member_roles",
        "PUT",
        "/organizations/{organizationId}/members/{userId}/roles",
        ORGANIZATION_KINDS,
        "role:assign",
        uses_table=True,
        body="ReplaceMemberRoles",
    ),
    # The caller's own membership (static `me` beside `{userId}`: API Gateway matches the static segment first).
    Route(
        "get_own_membership",
        "GET",
        "/organizations/{organizationId}/members/me",
        ORGANIZATION_KINDS,
        None,
        live_always=True,  # what Logto holds now, for an app to show or hide actions
    ),
    Route(
        "leave_organization",
        "DELETE",
        "/organizations/{organizationId}/members/me",
        ORGANIZATION_KINDS,
        None,
        uses_table=True,  # the orphan guard's per-organization lease
    ),
    Route("list_roles", "GET", "/organizations/{organizationId}/roles", ORGANIZATION_KINDS, None),
    Route(
        "list_invitations", "GET", "/organizations/{organizationId}/invitations", ORGANIZATION_KINDS, "member:invite"
    ),
    Route(
        "create_invitation",
        "POST",
        "/organizations/{organizationId}/invitations",
        ORGANIZATION_KINDS,
        "member:invite",
        uses_table=True,  # the lease (pending invitations per organization) and the e-mail rate limits (limits.py)
        body="CreateInvitation",
    ),
    Route(
        "revoke_invitation",
        "DELETE",
        "/organizations/{organizationId}/invitations/{invitationId}",
        ORGANIZATION_KINDS,
        "member:invite",
    ),
    Route(
        "send_invitation_message",
        "POST",
        "/organizations/{organizationId}/invitations/{invitationId}/message",
        ORGANIZATION_KINDS,
        "member:invite",
        uses_table=True,  # the e-mail rate limits (limits.py)
    ),
    Route(
        "list_audit",
        "GET",
        "/organizations/{organizationId}/audit",
        ORGANIZATION_KINDS,
        "audit:read",
        live_always=True,  # who did what is for those who may read it now, not whoever held it an hour ago
        query="AuditQuery",
    ),
    # The invitee's side: a user's global API token; who may act is decided by the invitation's e-mail, not a scope.
    Route("list_own_invitations", "GET", "/invitations", _GLOBAL, None),
    Route(
        "accept_invitation",
        "POST",
        "/invitations/{invitationId}/accept",
        _GLOBAL,
        None,
        uses_table=True,  # the lease (members per organization, limits.py)
    ),
    Route("decline_invitation", "POST", "/invitations/{invitationId}/decline", _GLOBAL, None),
)

# Served without the authorizer; kept apart so no code path can put it into a token's policy.
HEALTH_ROUTE = Route("health", "GET", "/health", frozenset(), None)

ROUTES_BY_NAME: Mapping[str, Route] = {route.name: route for route in (*ROUTES, HEALTH_ROUTE)}


def required_permission(route: Route, overrides: Mapping[str, str]) -> str | None:
    """The permission this deployment requires for the route (PERMISSION_OVERRIDES renames defaults)."""
    if route.permission is None:
        return None
    return overrides.get(route.permission, route.permission)


def allows(route: Route, kind: TokenKind, scopes: frozenset[str], overrides: Mapping[str, str]) -> bool:
    """May a token of this kind holding these scopes call the route (ignoring which organization)?"""
    if kind not in route.kinds:
        return False
    permission = required_permission(route, overrides)
    return permission is None or permission in scopes
