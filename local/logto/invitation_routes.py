"""Organization invitations as Logto 1.42 serves them (routes/organization-invitation/, libraries/
organization-invitation.ts): list (filters, case-insensitive invitee), create (with the e-mail when a message payload
is given), read, send the e-mail again, status changes (Accepted adds the membership and roles in one transaction),
delete. E-mails go to the stand-in's outbox (GET /__dev/outbox)."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request

from local.logto.store import Store, new_id, now_ms
from local.logto.tenant_admin_routes import Helpers

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def register(
    app: Flask,
    store: Store,
    h: Helpers,
    *,
    fk_violation: Callable[[], Exception],
    check_roles: Callable[[list[str], str], None],
    user_or_404: Callable[[str], sqlite3.Row],
    connectors: dict[str, bool],
    outbox: list[dict[str, Any]],
    lock: threading.Lock,
) -> None:
    LogtoError, _json, _guard, _str_list = h.error, h.json, h.guard, h.str_list

    @app.get("/api/organization-invitations")
    def list_invitations() -> Response:
        h.require_m2m()
        sql, args = "SELECT * FROM invitations WHERE 1 = 1", []
        for param, column in (("organizationId", "org_id"), ("inviterId", "inviter_id")):
            if request.args.get(param):
                sql += f" AND {column} = ?"
                args.append(request.args[param])
        if request.args.get("invitee"):
            # #findEntity: `lower(invitee) = lower(:invitee)`, an exact match that ignores case
            sql += " AND lower(invitee) = lower(?)"
            args.append(request.args["invitee"])
        return _json([store.invitation(r) for r in store.q(sql + " ORDER BY created_at", *args)])

    def message_payload(value: Any) -> dict[str, Any]:
        """sendMessagePayloadGuard: an object whose code/link/locale/uiLocales, if present, are strings."""
        _guard(
            isinstance(value, dict)
            and all(isinstance(value[k], str) for k in ("code", "link", "locale", "uiLocales") if k in value),
            'Error in key path "messagePayload".',
        )
        return value

    def send_invitation_email(invitation: dict[str, Any], payload: dict[str, Any]) -> None:
        """OrganizationInvitationLibrary.sendEmail: needs the tenant's e-mail connector (else 501)."""
        if not connectors["email"]:
            raise LogtoError(501, "connector.not_found", "Cannot find any available connector for type: Email.")
        link = payload.get("link")
        entry = {
            "to": invitation["invitee"],
            "invitationId": invitation["id"],
            "link": link,
            "organizationId": invitation["organizationId"],
            "at": now_ms(),
        }
        with lock:
            outbox.append(entry)
        print(f"invitation e-mail to {invitation['invitee']} with link {link}", flush=True)

    @app.post("/api/organization-invitations")
    def create_invitation() -> Response:
        h.require_m2m()
        data = h.body()
        _guard(
            isinstance(data.get("invitee"), str) and EMAIL.match(data["invitee"]) is not None,
            'Error in key path "invitee".',
        )
        _guard(isinstance(data.get("organizationId"), str), 'Error in key path "organizationId".')
        _guard(
            isinstance(data.get("expiresAt"), (int, float)) and not isinstance(data["expiresAt"], bool),
            'Error in key path "expiresAt".',
        )
        _guard(data.get("inviterId") is None or isinstance(data["inviterId"], str), 'Error in key path "inviterId".')
        payload = data.get("messagePayload", False)  # `.default(false)`: no e-mail unless a payload is given
        if payload is not False:
            payload = message_payload(payload)
        role_ids = _str_list(data, "organizationRoleIds", required=False)
        if data["expiresAt"] <= now_ms():
            raise LogtoError(400, "request.invalid_input", "The value of `expiresAt` must be in the future.")
        org_id, invitee = data["organizationId"], data["invitee"]
        # isMember(organizationId, invitee): `primary_email = :invitee`, compared exactly (case-sensitive)
        if store.one(
            "SELECT 1 FROM members m JOIN users u ON u.id = m.user_id WHERE m.org_id = ? AND u.primary_email = ?",
            org_id,
            invitee,
        ):
            raise LogtoError(422, "request.invalid_input", "The invitee is already a member of the organization.")
        if not store.one("SELECT 1 FROM organizations WHERE id = ?", org_id):
            raise fk_violation()
        check_roles(role_ids, "User")
        invitation_id, now = new_id(), now_ms()
        store.db.execute("BEGIN")  # one transaction: an e-mail that cannot be sent leaves no invitation behind
        try:
            # updateExpiredEntities first, so an expired pending invitation does not block a new one
            store.db.execute(
                "UPDATE invitations SET status = 'Expired' WHERE status = 'Pending' AND expires_at < ? "
                "AND org_id = ? AND lower(invitee) = lower(?)",
                (now, org_id, invitee),
            )
            store.db.execute(
                "INSERT INTO invitations VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    invitation_id,
                    org_id,
                    data.get("inviterId"),
                    invitee,
                    "Pending",
                    None,
                    int(data["expiresAt"]),
                    now,
                    now,
                ),
            )
            for role_id in role_ids:
                store.db.execute("INSERT INTO invitation_roles VALUES (?,?)", (invitation_id, role_id))
            created = store.invitation(invitation_or_404(invitation_id))
            if payload is not False:
                send_invitation_email(created, payload)
            store.db.execute("COMMIT")
        except sqlite3.IntegrityError as exc:
            store.db.execute("ROLLBACK")
            if "UNIQUE" in str(exc):
                raise LogtoError(422, "entity.unique_integrity_violation", "The entity already exists.") from None
            raise fk_violation() from None
        except BaseException:
            store.db.execute("ROLLBACK")
            raise
        return _json(created, 201)

    def invitation_or_404(invitation_id: str) -> sqlite3.Row:
        row = store.one("SELECT * FROM invitations WHERE id = ?", invitation_id)
        if row is None:
            # findById is `pool.one(...)`: slonik's NotFoundError, which koa-slonik-error-handler maps to this
            raise LogtoError(404, "entity.not_found", "Entity not found.")
        return row

    @app.get("/api/organization-invitations/<invitation_id>")
    def get_invitation(invitation_id: str) -> Response:
        h.require_m2m()
        return _json(store.invitation(invitation_or_404(invitation_id)))

    @app.post("/api/organization-invitations/<invitation_id>/message")
    def send_invitation_message(invitation_id: str) -> Response:
        """Sends the invitation e-mail again, whatever the invitation's status (the route reads the invitation by id
        and sends; it checks nothing else)."""
        h.require_m2m()
        payload = message_payload(request.get_json(silent=True))
        send_invitation_email(store.invitation(invitation_or_404(invitation_id)), payload)
        return Response(status=204)

    @app.put("/api/organization-invitations/<invitation_id>/status")
    def set_invitation_status(invitation_id: str) -> Response:
        h.require_m2m()
        data = h.body()
        _guard(data.get("status") in ("Revoked", "Accepted"), 'Error in key path "status".')
        accepted_user_id = data.get("acceptedUserId")
        _guard(accepted_user_id is None or isinstance(accepted_user_id, str), 'Error in key path "acceptedUserId".')
        if data["status"] == "Accepted" and not accepted_user_id:
            raise LogtoError(
                422, "request.invalid_input", "The `acceptedUserId` is required when accepting an invitation."
            )
        entity = store.invitation(invitation_or_404(invitation_id))  # status computed: expired reads as Expired
        if entity["status"] in ("Accepted", "Expired", "Revoked"):
            raise LogtoError(422, "request.invalid_input", "The status of the invitation cannot be changed anymore.")
        store.db.execute("BEGIN")
        try:
            if data["status"] == "Accepted":
                user = user_or_404(str(accepted_user_id))
                if (user["primary_email"] or "").lower() != entity["invitee"].lower() or not user["primary_email"]:
                    raise LogtoError(
                        422, "request.invalid_input", "The accepted user must have the same email as the invitee."
                    )
                store.db.execute(
                    "INSERT INTO members VALUES (?,?) ON CONFLICT DO NOTHING", (entity["organizationId"], user["id"])
                )
                for role in entity["organizationRoles"]:
                    store.db.execute(
                        "INSERT INTO member_roles VALUES (?,?,?) ON CONFLICT DO NOTHING",
                        (entity["organizationId"], user["id"], role["id"]),
                    )
            updated_at = now_ms()
            store.db.execute(
                "UPDATE invitations SET status = ?, accepted_user_id = coalesce(?, accepted_user_id), updated_at = ? "
                "WHERE id = ?",
                (data["status"], accepted_user_id, updated_at, invitation_id),
            )
            store.db.execute("COMMIT")
        except BaseException:
            store.db.execute("ROLLBACK")
            raise
        result = {**entity, "status": data["status"], "updatedAt": updated_at}
        if accepted_user_id is not None:
            result["acceptedUserId"] = accepted_user_id
        return _json(result)

    @app.delete("/api/organization-invitations/<invitation_id>")
    def delete_invitation(invitation_id: str) -> Response:
        h.require_m2m()
        invitation_or_404(invitation_id)
        store.db.execute("DELETE FROM invitations WHERE id = ?", (invitation_id,))
        return Response(status=204)
