"""Changes whose answer may be lost: each function makes one change in Logto and, when the answer does not arrive
(timeout, reset, 5xx), reads Logto to find out whether it happened before the operation answers.

A change is made with a deadline that keeps FIND_OUT_SECONDS for that read (and for undoing a half-done change), so
finding out never outlives the Lambda. What a read shows:
- it happened: the operation answers success, as if the answer had arrived;
- it did not happen: the original failure is answered (a 502/504 that is true), marked `looked_up` so that callers
  no longer treat it as possibly applied;
- the read fails too: the original failure is answered; the outcome stays unknown (the retried operation is safe).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from orgapi.base.deadline import Deadline
from orgapi.base.observability import logger, metrics
from orgapi.logto.http import LogtoError, NoAnswer
from orgapi.logto.management import ManagementApi

# Left, before each forward step, for a read that finds out what a lost answer did, or a compensation (each is one
# or two Logto calls; a healthy Logto answers them in well under 0.5 s).
FIND_OUT_SECONDS = 2.0

T = TypeVar("T")


def settled(
    what: str, change: Callable[[Deadline], T], happened: Callable[[Deadline], T | None], deadline: Deadline
) -> T:
    """Run `change` within the deadline minus the read's reserve; on a lost answer, `happened` reads Logto and
    returns the result the change would have had, or None when it did not happen."""
    try:
        return change(deadline.keeping(FIND_OUT_SECONDS))
    except (LogtoError, NoAnswer) as failure:
        if not failure.maybe_applied:
            raise
        metrics.add_metric(name="LogtoAnswerLost", unit="Count", value=1)
        try:
            result = happened(deadline)
        except (LogtoError, NoAnswer):
            logger.warning("change_outcome_unknown", extra={"change": what})
            raise failure from None
        logger.info("change_outcome_found", extra={"change": what, "happened": result is not None})
        if result is None:
            failure.looked_up = True  # it did not happen: the failure is now a plain one
            raise
        return result


def remove_member(logto: ManagementApi, organization_id: str, user_id: str, deadline: Deadline) -> None:
    def happened(d: Deadline) -> bool | None:
        return True if logto.membership(organization_id, user_id, d) is None else None

    settled("remove_member", lambda d: logto.remove_member(organization_id, user_id, d), happened, deadline)


def delete_organization(logto: ManagementApi, organization_id: str, deadline: Deadline) -> None:
    def happened(d: Deadline) -> bool | None:
        try:
            logto.get_organization(organization_id, d)
        except LogtoError as error:
            if error.status == 404:
                return True
            raise
        return None

    settled("delete_organization", lambda d: logto.delete_organization(organization_id, d), happened, deadline)


def replace_member_roles(
    logto: ManagementApi, organization_id: str, user_id: str, role_ids: list[str], deadline: Deadline
) -> None:
    def happened(d: Deadline) -> bool | None:
        return True if logto.membership(organization_id, user_id, d) == set(role_ids) else None

    settled(
        "replace_member_roles",
        lambda d: logto.replace_member_roles(organization_id, user_id, role_ids, d),
        happened,
        deadline,
    )


def update_organization(
    logto: ManagementApi, organization_id: str, changes: dict[str, Any], deadline: Deadline
) -> dict[str, Any]:
    def happened(d: Deadline) -> dict[str, Any] | None:
        current = logto.get_organization(organization_id, d)
        same = isinstance(current, dict) and all(current.get(k) == v for k, v in changes.items())
        return current if same else None

    return settled(
        "update_organization", lambda d: logto.update_organization(organization_id, changes, d), happened, deadline
    )


def create_invitation(logto: ManagementApi, payload: dict[str, Any], deadline: Deadline) -> dict[str, Any]:
    """A POST is not repeated (it would invite twice). The payload's `expiresAt` (milliseconds, set by us) with the
    invitee tells our invitation apart from any other: after a lost answer it is looked for in the list."""

    def happened(d: Deadline) -> dict[str, Any] | None:
        for invitation in logto.list_invitations(payload["organizationId"], d):
            if (
                isinstance(invitation, dict)
                and invitation.get("invitee") == payload["invitee"]
                and invitation.get("expiresAt") == payload["expiresAt"]
            ):
                return invitation
        return None

    return settled("create_invitation", lambda d: logto.create_invitation(payload, d), happened, deadline)


def members_among(logto: ManagementApi, organization_id: str, user_ids: list[str], deadline: Deadline) -> set[str]:
    """Which of `user_ids` are members now (read from the member list, 100 per page, until all are found)."""
    wanted, page = set(user_ids), 1
    found: set[str] = set()
    while wanted - found:
        members, _ = logto.list_members(organization_id, deadline, page=page, page_size=100)
        found |= {str(m.get("id")) for m in members if isinstance(m, dict)} & wanted
        if len(members) < 100:
            break
        page += 1
    return found


def add_members(
    logto: ManagementApi,
    organization_id: str,
    user_ids: list[str],
    role_ids: list[str],
    deadline: Deadline,
    on_stranded: Callable[[list[str]], None],
    before_granting: Callable[[set[str]], None] = lambda existing: None,
) -> None:
    """Add members and give them roles, all or nothing: Logto has no call doing both (POST …/users/roles needs the
    users to be members already: foreign key), so members this request added are removed again when their role
    grant fails. Members who were members before are left as they were. `on_stranded` records members whose
    removal failed too, for the clean-up run."""
    if not role_ids:
        settled(
            "add_members",
            lambda d: logto.add_members(organization_id, user_ids, d),
            lambda d: True if members_among(logto, organization_id, user_ids, d) == set(user_ids) else None,
            deadline,
        )
        return
    before = members_among(logto, organization_id, user_ids, deadline.keeping(2 * FIND_OUT_SECONDS))
    before_granting(before)  # told who already is a member, before anything changes (it may refuse)
    new = [u for u in user_ids if u not in before]
    all_in = lambda d: True if members_among(logto, organization_id, user_ids, d) == set(user_ids) else None  # noqa: E731
    try:
        settled("add_members", lambda d: logto.add_members(organization_id, user_ids, d), all_in, deadline)
    except (LogtoError, NoAnswer) as failure:
        if failure.maybe_applied:  # some may be in: take out whoever this request may have added
            _undo_add(logto, organization_id, new, deadline, on_stranded)
        raise  # (a refusal is all or nothing: Logto adds the members in one statement)

    def granted(d: Deadline) -> bool | None:
        wanted = set(role_ids)
        return True if all(wanted <= (logto.membership(organization_id, u, d) or set()) for u in user_ids) else None

    try:
        # Repeated after a lost answer: granting a role twice changes nothing ("on conflict do nothing").
        settled(
            "assign_roles",
            lambda d: logto.assign_roles(organization_id, user_ids, role_ids, d),
            granted,
            deadline.keeping(FIND_OUT_SECONDS),  # and, after that, the time to remove the new members again
        )
    except (LogtoError, NoAnswer):
        _undo_add(logto, organization_id, new, deadline, on_stranded)
        raise


def _undo_add(
    logto: ManagementApi,
    organization_id: str,
    user_ids: list[str],
    deadline: Deadline,
    on_stranded: Callable[[list[str]], None],
) -> None:
    stranded = _remove_again(logto, organization_id, user_ids, deadline)
    if stranded:
        on_stranded(stranded)


def _remove_again(logto: ManagementApi, organization_id: str, user_ids: list[str], deadline: Deadline) -> list[str]:
    """Undo an add: remove each user (already gone counts as removed). Returns those whose removal failed."""
    stranded = []
    for user_id in user_ids:
        try:
            remove_member(logto, organization_id, user_id, deadline)
        except LogtoError as error:
            if error.status != 404:
                stranded.append(user_id)
        except NoAnswer:
            stranded.append(user_id)
    if user_ids:
        logger.warning(
            "add_members_compensated", extra={"removed": len(user_ids) - len(stranded), "stranded": len(stranded)}
        )
    return stranded
