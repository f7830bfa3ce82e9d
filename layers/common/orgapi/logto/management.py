"""Logto Management API client: one method per call the operations make (paths and bodies as in notes/logto.md §4).

Every call carries the cached M2M token; a 401 drops it and retries once with a fresh one (nothing ran on a 401).
A non-2xx answer raises LogtoError (status + Logto's code), a lost one NoAnswer; the operations read them. A 2xx
answer whose body is not the shape the call expects (orgapi.logto.shapes) raises NoAnswer("bad_answer"): for a write
it may have happened, so the outcome rules look it up as they do after a lost answer.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from orgapi.base.config import Settings
from orgapi.base.deadline import Deadline
from orgapi.base.errors import ApiError, BadRequest
from orgapi.base.observability import logger, metrics
from orgapi.logto import shapes
from orgapi.logto.http import HttpSender, LogtoError, LogtoResponse, NoAnswer, logto_code
from orgapi.logto.m2m import M2MTokenProvider

# What a path segment may be: a plain id. `.`/`..` would be removed by URL normalization (`users/..` turns into the
# organization itself, which Logto's router answers), and `/`, `%`, `?`, `#` could change the route another way.
PLAIN_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")  # always .fullmatch(): `$` would let a final "\n" through


class UnsafePathSegment(BadRequest):
    code, message = "invalid_id", "An id in the path is not a plain id"


class StatusChangeRefused(Exception):
    """Logto refused an invitation status change (422 request.invalid_input); never shown to a client as such."""


class EmailConnectorMissing(ApiError):
    status, code = 502, "email_connector_missing"
    message = "The identity provider has no e-mail connector configured, so no invitation e-mail can be sent"


def _seg(value: str) -> str:
    """A path segment for the Management API; anything but a plain id is refused before any request is made."""
    if not isinstance(value, str) or not PLAIN_ID.fullmatch(value):
        raise UnsafePathSegment()
    return quote(value, safe="")


class ManagementApi:
    def __init__(self, settings: Settings, sender: HttpSender, tokens: M2MTokenProvider):
        self._base, self._sender, self._tokens = settings.management_api_url, sender, tokens

    # -- transport ---------------------------------------------------------------------------------------------------
    def call(
        self,
        method: str,
        path: str,
        deadline: Deadline,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        retry_unsafe: bool = False,
    ) -> LogtoResponse:
        response = self._send(method, path, deadline, json, params, retry_unsafe)
        if not response.ok:
            raise LogtoError.of(response)
        return response

    def _send(self, method, path, deadline, json, params, retry_unsafe) -> LogtoResponse:
        for attempt in (1, 2):
            token = self._tokens.token(deadline)
            started = time.perf_counter()
            response = self._sender.send(
                method,
                f"{self._base}{path}",
                deadline=deadline,
                retry_unsafe=retry_unsafe,
                json=json,
                params=params,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            )
            metrics.add_metric(name="LogtoLatency", unit="Milliseconds", value=(time.perf_counter() - started) * 1000)
            if response.status == 401 and attempt == 1:
                logger.warning("m2m_token_rejected_by_management_api")
                self._tokens.invalidate(token)
                continue
            if not response.ok:
                logger.info(
                    "logto_call_failed",
                    extra={"method": method, "status": response.status, "logto_code": logto_code(response.body)},
                )
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def read(self, shape: Any, method: str, path: str, deadline: Deadline, **kwargs: Any) -> Any:
        """call(), then the body, which must have `shape` (see orgapi.logto.shapes)."""
        return _body(self.call(method, path, deadline, **kwargs), shape, method, path)

    # -- organizations -------------------------------------------------------------------------------------------------
    def create_organization(self, body: dict[str, Any], deadline: Deadline) -> dict[str, Any]:
        return self.read(shapes.Organization, "POST", "/organizations", deadline, json=body)

    def get_organization(self, organization_id: str, deadline: Deadline) -> dict[str, Any]:
        return self.read(shapes.Organization, "GET", f"/organizations/{_seg(organization_id)}", deadline)

    def update_organization(self, organization_id: str, body: dict[str, Any], deadline: Deadline) -> dict[str, Any]:
        path = f"/organizations/{_seg(organization_id)}"
        return self.read(shapes.Organization, "PATCH", path, deadline, json=body)

    def delete_organization(self, organization_id: str, deadline: Deadline) -> None:
        """DELETE is repeated after a lost answer (deleting twice deletes once). A 404 on a repeat is read as our
        own earlier attempt having deleted it: success. A 404 on the first attempt stays a 404."""
        try:
            self.call("DELETE", f"/organizations/{_seg(organization_id)}", deadline)
        except LogtoError as error:
            if not (error.status == 404 and error.after_lost_answer):
                raise

    def search_organizations(self, keyword: str, deadline: Deadline, *, page: int) -> list[dict[str, Any]]:
        """Organizations whose id or name contains `keyword` (Logto: `ilike '%keyword%'`), 100 per page."""
        params = {"q": keyword, "page": page, "page_size": 100}
        return self.read(list[shapes.Organization], "GET", "/organizations", deadline, params=params)

    def get_user(self, user_id: str, deadline: Deadline) -> dict[str, Any]:
        return self.read(shapes.Identified, "GET", f"/users/{_seg(user_id)}", deadline)

    def user_organizations(self, user_id: str, deadline: Deadline) -> list[dict[str, Any]]:
        path = f"/users/{_seg(user_id)}/organizations"
        return self.read(list[shapes.UserOrganization], "GET", path, deadline)

    # -- members -------------------------------------------------------------------------------------------------------
    def list_members(
        self, organization_id: str, deadline: Deadline, *, page: int, page_size: int, **filters: str
    ) -> tuple[list[dict[str, Any]], int | None]:
        params = {"page": page, "page_size": page_size, **filters}
        path = f"/organizations/{_seg(organization_id)}/users"
        response = self.call("GET", path, deadline, params=params)
        total = response.headers.get("Total-Number")
        members = _body(response, list[shapes.Member], "GET", path)
        return members, int(total) if total and total.isdigit() else None

    def add_members(self, organization_id: str, user_ids: list[str], deadline: Deadline) -> None:
        # Adding existing members is a no-op in Logto ("on conflict do nothing"), so a repeated POST does no harm and
        # its second answer (201) is as good as the first.
        self.call(
            "POST",
            f"/organizations/{_seg(organization_id)}/users",
            deadline,
            json={"userIds": user_ids},
            retry_unsafe=True,
        )

    def remove_member(self, organization_id: str, user_id: str, deadline: Deadline) -> None:
        """DELETE is repeated after a lost answer (removing twice removes once). A 404 (`entity.not_found`, "not a
        member") on a repeat is read as our own earlier attempt having removed them: success."""
        try:
            self.call("DELETE", f"/organizations/{_seg(organization_id)}/users/{_seg(user_id)}", deadline)
        except LogtoError as error:
            if not (error.status == 404 and error.after_lost_answer):
                raise

    def membership(self, organization_id: str, user_id: str, deadline: Deadline) -> set[str] | None:
        """The user's organization role ids, or None when they are not a member (422 require_membership)."""
        return self._role_ids_or_none(f"/organizations/{_seg(organization_id)}/users/{_seg(user_id)}/roles", deadline)

    def application_membership(self, organization_id: str, application_id: str, deadline: Deadline) -> set[str] | None:
        """A machine caller's organization role ids, or None when it is not in the organization
        (routes/organization/application/role-relations.ts answers 422 require_membership, as for users)."""
        path = f"/organizations/{_seg(organization_id)}/applications/{_seg(application_id)}/roles"
        return self._role_ids_or_none(path, deadline)

    def _role_ids_or_none(self, path: str, deadline: Deadline) -> set[str] | None:
        try:
            roles = self.read(list[shapes.Identified], "GET", path, deadline)
        except LogtoError as error:
            if error.status == 422 and error.code == "organization.require_membership":
                return None
            raise
        return {r["id"] for r in roles}

    def assign_roles(self, organization_id: str, user_ids: list[str], role_ids: list[str], deadline: Deadline) -> None:
        """Give users roles (existing assignments are kept; repeating the call is harmless, so it may be retried)."""
        base = f"/organizations/{_seg(organization_id)}/users"
        body = {"userIds": user_ids, "organizationRoleIds": role_ids}
        response = self._send("POST", f"{base}/roles", deadline, body, None, True)
        if response.status in (404, 405):
            # No bulk route (an implementation without it; Logto answers 422, never 404, here): one call per user.
            for user_id in user_ids:
                path = f"{base}/{_seg(user_id)}/roles"
                self.call("POST", path, deadline, json={"organizationRoleIds": role_ids}, retry_unsafe=True)
            return
        if not response.ok:
            raise LogtoError.of(response)

    def replace_member_roles(self, organization_id: str, user_id: str, role_ids: list[str], deadline: Deadline) -> None:
        # A PUT sets the whole role list: repeating it after a lost answer leaves the same state, answered 204 again.
        path = f"/organizations/{_seg(organization_id)}/users/{_seg(user_id)}/roles"
        self.call("PUT", path, deadline, json={"organizationRoleIds": role_ids})

    def user_role_ids(self, user_id: str, deadline: Deadline) -> list[str]:
        """The user's global (tenant) roles (routes/admin-user/role.ts: always paginated, 20 a page by default)."""
        path, ids, page = f"/users/{_seg(user_id)}/roles", [], 1
        while True:
            params = {"page": page, "page_size": 100}
            batch = [r["id"] for r in self.read(list[shapes.Identified], "GET", path, deadline, params=params)]
            ids.extend(batch)
            if len(batch) < 100 or page >= 50:
                return ids
            page += 1

    def role_scopes(self, role_id: str, deadline: Deadline) -> list[dict[str, Any]]:
        """A global role's permissions, each with its API resource attached (routes/role.scope.ts)."""
        return self.read(list[shapes.ResourceScope], "GET", f"/roles/{_seg(role_id)}/scopes", deadline)

    def resource_id(self, indicator: str, deadline: Deadline) -> str | None:
        """Logto's id of the API resource with this indicator (routes/resource.ts lists them with indicators)."""
        page = 1
        while True:
            params = {"page": page, "page_size": 100}
            batch = self.read(list[shapes.ResourceRef], "GET", "/resources", deadline, params=params)
            for resource in batch:
                if resource.get("indicator") == indicator:
                    return resource["id"]
            if len(batch) < 100 or page >= 50:
                return None
            page += 1

    # -- roles ---------------------------------------------------------------------------------------------------------
    def organization_roles(self, deadline: Deadline) -> list[dict[str, Any]]:
        """Every organization role with its permissions (the list endpoint is paginated; page through it)."""
        roles: list[dict[str, Any]] = []
        page = 1
        while True:
            params = {"page": page, "page_size": 100}
            response = self.call("GET", "/organization-roles", deadline, params=params)
            batch = _body(response, list[shapes.OrganizationRole], "GET", "/organization-roles")
            roles.extend(batch)
            total = response.headers.get("Total-Number")
            if not batch or len(batch) < 100 or (total and total.isdigit() and len(roles) >= int(total)) or page >= 50:
                return roles
            page += 1

    # -- invitations ---------------------------------------------------------------------------------------------------
    def list_invitations(self, organization_id: str, deadline: Deadline) -> list[dict[str, Any]]:
        params = {"organizationId": organization_id}
        return self.read(list[shapes.Invitation], "GET", "/organization-invitations", deadline, params=params)

    def invitations_for(self, invitee: str, deadline: Deadline) -> list[dict[str, Any]]:
        """Invitations addressed to an e-mail. Logto matches `invitee` case-insensitively (`lower(invitee) =
        lower($1)` in packages/core/src/queries/organization/index.ts), as its accept check does."""
        params = {"invitee": invitee}
        return self.read(list[shapes.Invitation], "GET", "/organization-invitations", deadline, params=params)

    def accept_invitation(self, invitation_id: str, user_id: str, deadline: Deadline) -> dict[str, Any]:
        """Logto adds the membership and the invitation's roles in the same transaction as the status change."""
        path = f"/organization-invitations/{_seg(invitation_id)}/status"
        body = {"status": "Accepted", "acceptedUserId": user_id}
        return self._status_change(self._send("PUT", path, deadline, body, None, False), path)

    def send_invitation_message(self, invitation_id: str, payload: dict[str, Any], deadline: Deadline) -> None:
        """Logto e-mails the invitee through the tenant's e-mail connector (template OrganizationInvitation). A POST:
        repeated only where nothing was sent (429, refused connection), never after an answer was lost."""
        path = f"/organization-invitations/{_seg(invitation_id)}/message"
        response = self._send("POST", path, deadline, payload, None, False)
        if response.status == 501 and logto_code(response.body) == "connector.not_found":
            raise EmailConnectorMissing()
        if not response.ok:
            raise LogtoError.of(response)

    def create_invitation(self, body: dict[str, Any], deadline: Deadline) -> dict[str, Any]:
        return self.read(shapes.Invitation, "POST", "/organization-invitations", deadline, json=body)

    def get_invitation(self, invitation_id: str, deadline: Deadline) -> dict[str, Any]:
        return self.read(shapes.Invitation, "GET", f"/organization-invitations/{_seg(invitation_id)}", deadline)

    def _status_change(self, response: LogtoResponse, path: str) -> dict[str, Any]:
        if response.status == 422 and logto_code(response.body) == "request.invalid_input":
            # Logto 1.42 answers this one code for an ending status, another user's e-mail and a missing
            # acceptedUserId alike (libraries/organization-invitation.ts, updateStatus): the caller tells them apart.
            raise StatusChangeRefused()
        if not response.ok:
            raise LogtoError.of(response)
        return _body(response, shapes.Invitation, "PUT", path)

    def revoke_invitation(self, invitation_id: str, deadline: Deadline) -> dict[str, Any] | None:
        """The revoked invitation as Logto answers it (None where the fallback deleted it). A PUT sets a state, so the
        sender repeats it after a lost answer; the repeat then meets an invitation in an ending state (422
        request.invalid_input): the caller reads the invitation again to tell (LogtoError.after_lost_answer says a
        repeat happened)."""
        path = f"/organization-invitations/{_seg(invitation_id)}"
        response = self._send("PUT", f"{path}/status", deadline, {"status": "Revoked"}, None, False)
        if response.status in (404, 405) and not response.after_lost_answer:
            # No status route (an implementation without it): there, revoking means deleting. On Logto a 404 here
            # means the invitation is gone, and the DELETE answers 404 as well.
            response = self._send("DELETE", path, deadline, None, None, False)
            if response.ok:
                return None
        if not response.ok:
            raise LogtoError.of(response)
        return _body(response, shapes.Invitation, "PUT", f"{path}/status")


def _body(response: LogtoResponse, shape: Any, method: str, path: str) -> Any:
    """The body of a 2xx answer, if it has `shape`; else the answer counts as unreadable (NoAnswer "bad_answer")."""
    try:
        if not response.readable:
            raise shapes.Malformed()
        return shapes.check(shape, response.body)
    except shapes.Malformed:
        logger.error("logto_answer_malformed", extra={"method": method, "path": path[:200]})  # never the body
        metrics.add_metric(name="LogtoMalformedAnswer", unit="Count", value=1)
        raise NoAnswer("bad_answer", maybe_applied=method not in ("GET", "HEAD")) from None
