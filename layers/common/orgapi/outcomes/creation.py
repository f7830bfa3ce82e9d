"""Creating an organization so that it ends with its creator as CREATOR_ROLE member or does not exist, whatever answer
is lost on the way.

Three Logto calls make one creation (create, add the creator, give the role), and Logto has no transaction across
them. So:
- each creation has a creation id: for a keyed request derived from (caller, Idempotency-Key), so every retry of
  it has the same one; otherwise random. The organization is created with it in `customData` (MARKER), where it
  can be found again by listing organizations of that name;
- before the first call a pending clean-up "create#<id>" is written (write-ahead; see orgapi.outcomes.cleanup). It is deleted
  when the creation is complete, or undone. If the Lambda dies, or an answer stays lost, the item remains and the
  clean-up run finishes the job: an organization carrying the id whose creator does not hold CREATOR_ROLE is deleted;
- a retry finding the item of an earlier attempt first looks for that attempt's organization and completes it
  instead of creating a second one; a keyed retry therefore yields exactly one organization.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from orgapi.base.deadline import Deadline
from orgapi.base.errors import ApiError, UpstreamError, UpstreamTimeout
from orgapi.base.observability import logger
from orgapi.contract import views
from orgapi.logto.http import LogtoError, NoAnswer
from orgapi.logto.management import ManagementApi
from orgapi.outcomes import changes
from orgapi.outcomes.cleanup import CREATE, Cleanup, CleanupStore

MARKER = views.CREATION_MARKER  # the customData key holding the creation id (hidden from our views, refused in input)
KIND = CREATE
HOLD_MARGIN_SECONDS = 5.0  # the clean-up run leaves an item alone until its request has surely ended
MAX_SEARCH_PAGES = 10


def creation_id(subject: str, idempotency_key: str | None) -> str:
    if idempotency_key is None:
        return uuid.uuid4().hex
    return hashlib.sha256(f"{subject}\0{idempotency_key}".encode()).hexdigest()[:32]


def find_marked(logto: ManagementApi, name: str, cid: str, deadline: Deadline) -> list[dict[str, Any]]:
    """Organizations created with this creation id (Logto searches names by substring; the id decides)."""
    found = []
    for page in range(1, MAX_SEARCH_PAGES + 1):
        batch = logto.search_organizations(name, deadline, page=page)
        found += [
            o
            for o in batch
            if isinstance(o, dict) and isinstance(o.get("customData"), dict) and o["customData"].get(MARKER) == cid
        ]
        if len(batch) < 100:
            break
    return found


def create(
    logto: ManagementApi,
    store: CleanupStore,
    *,
    creator: str,
    creator_role_id: str,
    body: dict[str, Any],
    cid: str,
    deadline: Deadline,
) -> dict[str, Any]:
    """The created organization (Logto's entity), with `creator` holding `creator_role_id` in it."""
    item_id = f"{KIND}#{cid}"
    data = {"creator": creator, "role": creator_role_id, "name": body["name"]}
    earlier = store.begin(KIND, cid, data, hold_seconds=deadline.remaining() + HOLD_MARGIN_SECONDS)
    organization = None
    if earlier is not None:
        # An earlier attempt of this keyed request did not finish: its organization may exist. Complete that one.
        found = find_marked(logto, body["name"], cid, deadline.keeping(2 * changes.FIND_OUT_SECONDS))
        organization = found[0] if found else None
        logger.info("creation_resumed", extra={"found": len(found)})
    if organization is None:
        payload = {**body, "customData": {**(body.get("customData") or {}), MARKER: cid}}

        def happened(d: Deadline) -> dict[str, Any] | None:
            found = find_marked(logto, body["name"], cid, d)
            return found[0] if found else None

        try:
            # A POST is not repeated by the sender (it would create twice); a lost answer is looked up by the id.
            organization = changes.settled(
                "create_organization",
                lambda d: logto.create_organization(payload, d),
                happened,
                deadline.keeping(changes.FIND_OUT_SECONDS),
            )
        except (LogtoError, NoAnswer) as failure:
            if not (failure.maybe_applied or failure.looked_up):
                store.forget(item_id)  # Logto refused: nothing was created
                raise
            # Not found, or not known: the item stays until this request has surely ended, so that a create
            # still on its way to Logto is deleted by the clean-up run (or completed by a keyed retry).
            if failure.looked_up:
                raise
            raise _unknown(failure) from None
    organization_id = organization["id"]
    try:
        # Both calls may be repeated: adding a member twice, or granting a role twice, changes nothing.
        changes.settled(
            "add_creator",
            lambda d: logto.add_members(organization_id, [creator], d),
            lambda d: True if logto.membership(organization_id, creator, d) is not None else None,
            deadline.keeping(changes.FIND_OUT_SECONDS),
        )
        changes.settled(
            "grant_creator_role",
            lambda d: logto.assign_roles(organization_id, [creator], [creator_role_id], d),
            lambda d: True if creator_role_id in (logto.membership(organization_id, creator, d) or set()) else None,
            deadline.keeping(changes.FIND_OUT_SECONDS),
        )
    except (LogtoError, NoAnswer):
        _undo(logto, store, item_id, {**data, "organization_id": organization_id}, organization_id, deadline)
        raise
    if earlier is None:
        store.forget(item_id)
    else:
        # An earlier attempt's create may still land after this one (its answer was lost, not its request): the
        # clean-up run looks once more, keeps this organization and deletes any other carrying the id.
        store.update(
            item_id, {**data, "organization_id": organization_id}, not_before=store.now() + HOLD_MARGIN_SECONDS
        )
    return organization


def _undo(
    logto: ManagementApi,
    store: CleanupStore,
    item_id: str,
    data: dict[str, Any],
    organization_id: str,
    deadline: Deadline,
) -> None:
    """No orphans: an organization whose creator could not be made its CREATOR_ROLE member is deleted again, now if
    the time left allows, else by the clean-up run (the item says which organization)."""
    try:
        changes.delete_organization(logto, organization_id, deadline)
    except (LogtoError, NoAnswer) as failure:
        logger.warning(
            "organization_compensation_pending",
            extra={"created_organization_id": organization_id, "reason": type(failure).__name__},
        )
        try:
            store.update(item_id, data, not_before=0)
        except Exception as exc:  # the item written before the create stays; the run searches by name then
            logger.error("cleanup_store_failed", extra={"error": type(exc).__name__})
        return
    store.forget(item_id)
    logger.warning("organization_create_compensated", extra={"created_organization_id": organization_id})


def _unknown(failure: LogtoError | NoAnswer) -> ApiError:
    message = "The identity provider's answer was lost; retry with the same Idempotency-Key"
    if isinstance(failure, NoAnswer) and failure.reason in ("timeout", "slow_body", "no_time"):
        return UpstreamTimeout(message, code="creation_outcome_unknown", retry_after=2)
    return UpstreamError(message, code="creation_outcome_unknown", retry_after=2)


def reconcile(logto: ManagementApi, cleanup: Cleanup, deadline: Deadline) -> bool:
    """Clean-up handler: keep the organization of this creation whose creator holds the creator role (a retry
    completed it), delete every other organization carrying the creation id. True when nothing is left to do."""
    data, cid = cleanup.data, cleanup.key
    creator, role = data.get("creator"), data.get("role")
    organizations = find_marked(logto, str(data.get("name", "")), cid, deadline) if data.get("name") else []
    known = data.get("organization_id")
    if known and all(o.get("id") != known for o in organizations):
        try:
            organizations.append(logto.get_organization(known, deadline))
        except LogtoError as error:
            if error.status != 404:
                raise
    kept = None
    for organization in organizations:
        organization_id = organization.get("id")
        if not isinstance(organization_id, str):
            continue
        roles = logto.membership(organization_id, str(creator), deadline) if creator else None
        if kept is None and roles is not None and role in roles:
            kept = organization_id  # complete: a retry (or the request itself, before it died) finished it
            continue
        changes.delete_organization(logto, organization_id, deadline)
        logger.warning("orphan_organization_deleted", extra={"created_organization_id": organization_id})
    return True
