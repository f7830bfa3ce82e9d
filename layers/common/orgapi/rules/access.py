"""Who is calling and what they may do NOW.

A Logto token says what its holder could do when it was issued; Logto revokes nothing on a membership or role change
(tokens live up to an hour, and API Gateway caches the policy for ReauthorizeEvery). So for every route that changes
something (LIVE_PERMISSIONS=writes; `all`: reads too) the caller's effective permissions are the token's scopes
intersected with what Logto grants the caller today, read per token kind exactly as Logto would build a new token:

- organization token: the organization permissions of the caller's current roles in the organization;
- organization API token: those roles' API permissions for API_RESOURCE, plus the user's global roles' permissions for
  API_RESOURCE (Logto adds both to such a token);
- machine caller (sub == client_id): its application roles in the organization;
- global API token (only POST /organizations asks): the user's GLOBAL roles only. Logto also puts the API permissions
  of the user's organization roles in every organization into a global token (`findFromOrganizations` in
  oidc/init.ts), so a scope there does not mean the tenant gave it.

The same Access answers the three questions every rule asks: may the caller use this permission (require), may they
hand over this role (ensure_can_grant: no escalation, both namespaces), may they act on this member (ensure_outranks).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from orgapi.base.deadline import Deadline
from orgapi.base.errors import Forbidden
from orgapi.base.side_by_side import together
from orgapi.contract.kinds import TokenKind
from orgapi.contract.routes import Route
from orgapi.logto.http import LogtoError
from orgapi.logto.management import ManagementApi
from orgapi.rules.role_directory import RoleDirectory
from orgapi.rules.roles import OrganizationRole, RoleCatalog
from orgapi.tokens.identity import Caller


class LiveMode(StrEnum):
    WRITES = "writes"  # routes that change something (and GET .../members/me) re-read the caller's permissions
    ALL = "all"  # every route does
    OFF = "off"  # the token's scopes are trusted until it expires (not recommended: see README)


@dataclass(frozen=True)
class Access:
    """What a caller may do in one organization now: the token's scopes, narrowed to today's grants when live."""

    caller: Caller
    organization_id: str | None
    permissions: frozenset[str]  # effective: the token's scopes, intersected with today's grants when live
    live: bool
    roles: tuple[OrganizationRole, ...] = ()  # the caller's roles in the organization now (when live)
    catalog: RoleCatalog | None = None  # the role list read for this request (when live)

    def require(self, permission: str | None) -> None:
        if permission is not None and permission not in self.permissions:
            raise Forbidden(f"Missing permission {permission}", code="missing_permission")

    def ensure_can_grant(self, roles: Iterable[OrganizationRole]) -> None:
        """No escalation: a role hands over every permission it carries, organization and API alike."""
        for role in roles:
            if not role.all_permissions <= self.permissions:
                raise Forbidden(
                    f"Granting role {role.name!r} needs permissions you do not hold", code="privilege_escalation"
                )

    def ensure_outranks(self, target_id: str, target_roles: Iterable[OrganizationRole]) -> None:
        """Rank: removing a member or replacing their roles takes every permission their current roles carry.
        Acting on oneself is always allowed (stepping down, leaving); the orphan guard still applies."""
        if self.caller.is_user and target_id == self.caller.subject:
            return
        for role in target_roles:
            if not role.all_permissions <= self.permissions:
                raise Forbidden(
                    f"This member's role {role.name!r} carries permissions you do not hold", code="insufficient_rank"
                )


class AccessResolver:
    def __init__(self, api: ManagementApi, roles: RoleDirectory, api_resource: str, mode: LiveMode):
        self._api, self._roles, self._api_resource, self.mode = api, roles, api_resource, mode

    def is_live(self, route: Route) -> bool:
        if self.mode is LiveMode.OFF or not (route.organization_scoped or route.permission is not None):
            return False  # a route open to any valid token has no permission to re-derive
        return self.mode is LiveMode.ALL or route.method != "GET" or route.live_always

    def resolve(self, route: Route, caller: Caller, permission: str | None, deadline: Deadline) -> Access:
        """The caller's Access for this route; 403 (nothing changed) when they may not call it now."""
        access = self.current(caller, deadline) if self.is_live(route) else self.from_token(caller)
        access.require(permission)
        return access

    @staticmethod
    def from_token(caller: Caller) -> Access:
        return Access(caller, caller.organization_id, caller.scopes, live=False)

    def current(self, caller: Caller, deadline: Deadline) -> Access:
        """The live reads are independent Logto calls, made side by side: one round trip for an organization token;
        an organization API token's user adds a second (their global roles' permissions, side by side)."""
        if caller.kind is TokenKind.GLOBAL_API:
            grants = self._global_grants(caller.subject, deadline) if caller.is_user else frozenset()
            return Access(caller, None, caller.scopes & grants, live=True)
        organization_id = caller.organization_id
        assert organization_id is not None  # organization tokens always name one (verify.py)
        wants_global = caller.kind is TokenKind.ORGANIZATION_API and caller.is_user
        reads = [lambda: self._roles.fresh(deadline), lambda: self._caller_role_ids(caller, organization_id, deadline)]
        if wants_global:
            reads.append(lambda: self._global_role_ids(caller.subject, deadline))
        catalog, role_ids, *global_role_ids = together(*reads)
        roles = tuple(catalog.by_id(role_ids))
        if caller.kind is TokenKind.ORGANIZATION:
            grants = frozenset().union(*(role.permissions for role in roles))
        else:
            grants = frozenset().union(*(role.api_permissions for role in roles))
            if global_role_ids:
                grants |= self._permissions_of(global_role_ids[0], deadline)
        return Access(caller, organization_id, caller.scopes & grants, True, roles, catalog)

    def _caller_role_ids(self, caller: Caller, organization_id: str, deadline: Deadline) -> set[str]:
        if caller.is_user:
            role_ids = self._api.membership(organization_id, caller.subject, deadline)
        else:
            role_ids = self._api.application_membership(organization_id, caller.subject, deadline)
        if role_ids is None:  # removed since the token was issued
            raise Forbidden("You are no longer a member of this organization", code="not_a_member")
        return role_ids

    def _global_grants(self, user_id: str, deadline: Deadline) -> frozenset[str]:
        """Permissions for API_RESOURCE from the user's global roles (never from organization roles)."""
        return self._permissions_of(self._global_role_ids(user_id, deadline), deadline)

    def _global_role_ids(self, user_id: str, deadline: Deadline) -> list[str]:
        try:
            return self._api.user_role_ids(user_id, deadline)
        except LogtoError as error:
            if error.status != 404:
                raise
            return []  # not a Logto user: no global roles

    def _permissions_of(self, global_role_ids: list[str], deadline: Deadline) -> frozenset[str]:
        """The API_RESOURCE permissions of these global roles: one call per role, all side by side (from the request's
        thread: see side_by_side)."""
        answers = together(*(lambda r=role_id: self._api.role_scopes(r, deadline) for role_id in global_role_ids))
        return frozenset(
            scope["name"]
            for scopes in answers
            for scope in scopes
            if isinstance(scope.get("name"), str)
            and (scope.get("resource") or {}).get("indicator") == self._api_resource
        )
