"""Tenant-admin routes `make smoke` needs beside those `make logto-setup` uses, with Logto's statuses and bodies:

- POST /api/users → 200 the user (routes/admin-user/basics.ts; a taken username (exact) or e-mail is 422
  `user.username_already_in_use` / `user.email_already_in_use`); DELETE /api/users/{id} → 204, 404 unknown;
- POST /api/users/{id}/roles `{roleIds}` → 201 (routes/admin-user/role.ts; an unknown role id is 404), to give a
  throwaway user the global role with `org:create`;
- DELETE /api/applications/{id} → 204.

Applications are created, read and listed by application_routes.py (the one model of them); `client()` reads that
model for the token endpoint's grants (token_exchange.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request

from local.logto.store import Store, new_id, now_ms

USERNAME = re.compile(r"^[A-Z_a-z]\w*$")  # @logto/core-kit usernameRegEx


def client(store: Store, client_id: str) -> dict[str, Any] | None:
    """A token-endpoint client created through POST /api/applications: its type, secrets and custom metadata."""
    row = store.one(
        "SELECT a.type, m.is_third_party, m.custom_client_metadata, m.oidc_client_metadata FROM applications a "
        "JOIN application_details m ON m.app_id = a.id WHERE a.id = ?",
        client_id,
    )
    if row is None:
        return None
    values = [r["value"] for r in store.q("SELECT value FROM application_secrets WHERE app_id = ?", client_id)]
    return {
        "type": row["type"],
        "isThirdParty": bool(row["is_third_party"]),
        "customClientMetadata": json.loads(row["custom_client_metadata"]),
        "redirectUris": json.loads(row["oidc_client_metadata"]).get("redirectUris") or [],
        "secrets": values,
    }


def install(app: Flask, store: Store, *, require_m2m: Callable[[], None], error: Callable[..., Exception]) -> None:
    """`error(status, code, message)` builds the stand-in's Logto error (server.LogtoError)."""

    def guard(condition: bool, detail: str) -> None:
        if not condition:
            raise error(400, "guard.invalid_input", "The request body is invalid.", details=detail)

    def body() -> dict[str, Any]:
        data = request.get_json(silent=True)
        guard(isinstance(data, dict), "Expected a JSON object body.")
        return data

    @app.post("/api/users")
    def create_user() -> Response:
        require_m2m()
        data = body()
        username, email, name = data.get("username"), data.get("primaryEmail"), data.get("name")
        guard(username is None or (isinstance(username, str) and USERNAME.match(username) is not None), "username")
        guard(email is None or (isinstance(email, str) and "@" in email), "primaryEmail")
        guard(name is None or isinstance(name, str), "name")
        # compared exactly: Logto 1.42 created `PROBE_x` beside `probe_x` (seen)
        if username and store.one("SELECT 1 FROM users WHERE username = ?", username):
            raise error(422, "user.username_already_in_use", "This username is already in use.")
        if email and store.one("SELECT 1 FROM users WHERE lower(primary_email) = lower(?)", email):
            raise error(422, "user.email_already_in_use", "This email is associated with an existing account.")
        user_id = new_id()
        store.db.execute("INSERT INTO users VALUES (?,?,?,?,?,?)", (user_id, username, name, email, None, now_ms()))
        row = store.one("SELECT * FROM users WHERE id = ?", user_id)
        assert row is not None
        return Response(json.dumps({**store.user(row), "hasPassword": False}), 200, mimetype="application/json")

    @app.delete("/api/users/<user_id>")
    def delete_user(user_id: str) -> Response:
        require_m2m()
        if not store.one("SELECT 1 FROM users WHERE id = ?", user_id):
            raise error(404, "entity.not_found", "Entity not found.")  # seen on Logto 1.42 for a deleted user
        store.db.execute("BEGIN")
        try:
            # organization_invitations.inviter_id cascades in Logto; here it is a plain reference
            store.db.execute("DELETE FROM invitations WHERE inviter_id = ?", (user_id,))
            store.db.execute("DELETE FROM users WHERE id = ?", (user_id,))
            store.db.execute("COMMIT")
        except BaseException:
            store.db.execute("ROLLBACK")
            raise
        return Response(status=204)

    @app.post("/api/users/<user_id>/roles")
    def assign_global_roles(user_id: str) -> Response:
        require_m2m()
        role_ids = body().get("roleIds")
        guard(isinstance(role_ids, list) and all(isinstance(r, str) for r in role_ids), "roleIds")
        if not store.one("SELECT 1 FROM users WHERE id = ?", user_id):
            raise error(404, "entity.not_exists_with_id", f"The users with ID `{user_id}` does not exist.")
        for role_id in role_ids:
            if not store.one("SELECT 1 FROM roles WHERE id = ?", role_id):
                raise error(404, "entity.not_exists_with_id", f"The roles with ID `{role_id}` does not exist.")
        for role_id in role_ids:
            store.db.execute("INSERT INTO users_roles VALUES (?,?) ON CONFLICT DO NOTHING", (user_id, role_id))
        return Response("Created", status=201, mimetype="text/plain")

    @app.delete("/api/applications/<app_id>")
    def delete_application(app_id: str) -> Response:
        require_m2m()
        if not store.one("SELECT 1 FROM applications WHERE id = ?", app_id):
            raise error(404, "entity.not_exists_with_id", f"The application with ID `{app_id}` does not exist.")
        store.db.execute("DELETE FROM applications WHERE id = ?", (app_id,))
        return Response(status=204)
