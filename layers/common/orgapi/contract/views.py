"""What we return of Logto's entities: an allow-list of fields (Logto returns identities, custom CSS, phone numbers...)."""

from __future__ import annotations

from typing import Any

ORGANIZATION_FIELDS = ("id", "name", "description", "customData", "createdAt")
MEMBER_FIELDS = ("id", "username", "name", "primaryEmail", "avatar")
INVITATION_FIELDS = ("id", "invitee", "status", "organizationId", "inviterId", "expiresAt", "createdAt", "updatedAt")


def _pick(raw: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    raw = raw if isinstance(raw, dict) else {}
    return {field: raw.get(field) for field in fields}


def _role_refs(raw: Any) -> list[dict[str, Any]]:
    return [{"id": r.get("id"), "name": r.get("name")} for r in raw or [] if isinstance(r, dict)]


# customData key where orgapi.outcomes.creation marks an organization with its creation id: ours, not the client's.
CREATION_MARKER = "orgApiCreationId"


def organization(raw: Any) -> dict[str, Any]:
    picked = _pick(raw, ORGANIZATION_FIELDS)
    if isinstance(picked["customData"], dict) and CREATION_MARKER in picked["customData"]:
        picked["customData"] = {k: v for k, v in picked["customData"].items() if k != CREATION_MARKER}
    return picked


def organization_with_roles(raw: Any) -> dict[str, Any]:
    return {**organization(raw), "organizationRoles": _role_refs(raw.get("organizationRoles"))}


def member(raw: Any) -> dict[str, Any]:
    return {**_pick(raw, MEMBER_FIELDS), "organizationRoles": _role_refs(raw.get("organizationRoles"))}


def invitation(raw: Any) -> dict[str, Any]:
    return {**_pick(raw, INVITATION_FIELDS), "organizationRoles": _role_refs(raw.get("organizationRoles"))}
