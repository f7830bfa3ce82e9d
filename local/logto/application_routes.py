"""Applications as `make logto-setup` creates them (an SPA for the console, the service's M2M app), served as Logto
v1.42.0 serves them (packages/core/src/routes/applications/application.ts, application-role.ts,
application-secret.ts). Their OIDC metadata, secrets and global roles live in tables of this module's own, beside the
stand-in's `applications` table (which the organization routes use)."""

from __future__ import annotations

import json
import secrets
import sqlite3
from typing import Any

from flask import Flask, Response, request

from local.logto.store import Store, new_id, now_ms
from local.logto.tenant_admin_routes import Helpers

TABLES = """
CREATE TABLE IF NOT EXISTS application_details (app_id TEXT PRIMARY KEY REFERENCES applications(id) ON DELETE CASCADE,
  oidc_client_metadata TEXT NOT NULL, custom_client_metadata TEXT NOT NULL, is_third_party INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS application_secrets (app_id TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
  name TEXT NOT NULL, value TEXT NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (app_id, name));
CREATE TABLE IF NOT EXISTS applications_roles (app_id TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
  role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE, PRIMARY KEY (app_id, role_id));
"""
TYPES = ("Native", "SPA", "Traditional", "MachineToMachine", "Protected", "SAML")
WITH_SECRETS = ("Traditional", "MachineToMachine", "Protected")  # @logto/schemas hasSecrets


def register(app: Flask, store: Store, h: Helpers) -> None:
    store.db.executescript(TABLES)
    LogtoError, _json, _guard = h.error, h.json, h.guard

    def entity(row: sqlite3.Row) -> dict[str, Any]:
        details = store.one("SELECT * FROM application_details WHERE app_id = ?", row["id"])
        return {
            "tenantId": "default",
            "id": row["id"],
            "name": row["name"],
            "description": row["description"],
            "type": row["type"],
            "oidcClientMetadata": json.loads(details["oidc_client_metadata"])
            if details
            else {"redirectUris": [], "postLogoutRedirectUris": []},
            "customClientMetadata": json.loads(details["custom_client_metadata"]) if details else {},
            "protectedAppMetadata": None,
            "isThirdParty": bool(details["is_third_party"]) if details else False,
            "customData": {},
            "appLevelAccessControlEnabled": False,
            "createdAt": row["created_at"],
        }

    def app_or_404(app_id: str) -> sqlite3.Row:
        row = store.one("SELECT * FROM applications WHERE id = ?", app_id)
        if row is None:
            raise h.error(404, "entity.not_exists_with_id", f"The applications with ID `{app_id}` does not exist.")
        return row

    def metadata(data: dict[str, Any], key: str) -> dict[str, Any] | None:
        value = data.get(key)
        _guard(value is None or isinstance(value, dict), f'Error in key path "{key}".')
        for name in ("redirectUris", "postLogoutRedirectUris", "corsAllowedOrigins"):
            if value and name in value:
                items = value[name]
                _guard(isinstance(items, list) and all(isinstance(i, str) for i in items), f'Error in "{key}.{name}".')
        return value

    @app.get("/api/applications", endpoint="applications.list")
    def list_applications() -> Response:
        """koaPagination({isOptional: true}); `types` one or many."""
        h.require_m2m()
        page = h.page_params(False)
        types = request.args.getlist("types")
        rows = store.q("SELECT * FROM applications ORDER BY created_at, rowid")
        return h.paginated([entity(r) for r in rows if not types or r["type"] in types], page)

    @app.post("/api/applications", endpoint="applications.create")
    def create_application() -> Response:
        """200 (the route sets no status) with the application; a default secret for types that have secrets.
        Names need not be unique."""
        h.require_m2m()
        data = h.body()
        name, app_type = data.get("name"), data.get("type")
        _guard(isinstance(name, str) and 1 <= len(name) <= 256, 'Error in key path "name".')
        _guard(app_type in TYPES, 'Error in key path "type".')
        oidc = {"redirectUris": [], "postLogoutRedirectUris": [], **(metadata(data, "oidcClientMetadata") or {})}
        custom = metadata(data, "customClientMetadata") or {}
        third_party = bool(data.get("isThirdParty"))
        if third_party and custom.get("allowTokenExchange"):  # routes/applications/application.ts
            raise LogtoError(
                422,
                "application.third_party_application_cannot_enable_token_exchange",
                "Third-party applications cannot enable token exchange.",
            )
        app_id = new_id(21)
        store.db.execute("BEGIN")
        store.db.execute(
            "INSERT INTO applications VALUES (?,?,?,?,?)", (app_id, name, data.get("description"), app_type, now_ms())
        )
        store.db.execute(
            "INSERT INTO application_details VALUES (?,?,?,?)",
            (app_id, json.dumps(oidc), json.dumps(custom), int(third_party)),
        )
        if app_type in WITH_SECRETS:
            store.db.execute(
                "INSERT INTO application_secrets VALUES (?,?,?,?)",
                (app_id, "Default secret", secrets.token_urlsafe(24), now_ms()),
            )
        store.db.execute("COMMIT")
        return _json(entity(app_or_404(app_id)))

    @app.patch("/api/applications/<app_id>", endpoint="applications.update")
    def update_application(app_id: str) -> Response:
        """Top-level keys of the JSON columns are merged (SchemaQueries updateById, jsonb `merge`)."""
        h.require_m2m()
        data = h.body()
        current = entity(app_or_404(app_id))
        oidc = {**current["oidcClientMetadata"], **(metadata(data, "oidcClientMetadata") or {})}
        custom = {**current["customClientMetadata"], **(metadata(data, "customClientMetadata") or {})}
        store.db.execute(
            "INSERT INTO application_details (app_id, oidc_client_metadata, custom_client_metadata) VALUES (?,?,?) "
            "ON CONFLICT (app_id) DO UPDATE SET "
            "oidc_client_metadata = excluded.oidc_client_metadata, "
            "custom_client_metadata = excluded.custom_client_metadata",
            (app_id, json.dumps(oidc), json.dumps(custom)),
        )
        if isinstance(data.get("name"), str):
            store.db.execute("UPDATE applications SET name = ? WHERE id = ?", (data["name"], app_id))
        return _json(entity(app_or_404(app_id)))

    @app.get("/api/applications/<app_id>/secrets", endpoint="applications.secrets")
    def application_secrets(app_id: str) -> Response:
        h.require_m2m()
        app_or_404(app_id)
        rows = store.q("SELECT * FROM application_secrets WHERE app_id = ? ORDER BY created_at", app_id)
        return _json(
            [
                {
                    "tenantId": "default",
                    "applicationId": app_id,
                    "name": r["name"],
                    "value": r["value"],
                    "createdAt": r["created_at"],
                    "expiresAt": None,
                }
                for r in rows
            ]
        )

    def machine_app(app_id: str) -> None:
        if app_or_404(app_id)["type"] != "MachineToMachine":
            raise LogtoError(422, "application.invalid_type", "Only machine to machine applications can have roles.")

    @app.get("/api/applications/<app_id>/roles", endpoint="applications.roles")
    def application_roles(app_id: str) -> Response:
        """koaPagination() (always paginated); 422 application.invalid_type for an app that is not M2M."""
        h.require_m2m()
        page = h.page_params(True)
        machine_app(app_id)
        rows = store.q(
            "SELECT r.* FROM roles r JOIN applications_roles a ON a.role_id = r.id WHERE a.app_id = ? ORDER BY r.rowid",
            app_id,
        )
        return h.paginated([store.global_role(r) for r in rows], page)

    @app.post("/api/applications/<app_id>/roles", endpoint="applications.add_roles")
    def add_application_roles(app_id: str) -> Response:
        """201 {roleIds, addedRoleIds}; held roles are skipped; 422 application.invalid_role_type for a User role."""
        h.require_m2m()
        role_ids = h.str_list(h.body(), "roleIds")
        machine_app(app_id)
        held = {r["role_id"] for r in store.q("SELECT role_id FROM applications_roles WHERE app_id = ?", app_id)}
        added = [r for r in dict.fromkeys(role_ids) if r not in held]
        for role_id in added:
            row = store.one("SELECT type FROM roles WHERE id = ?", role_id)
            if row is None:
                raise h.error(404, "entity.not_exists_with_id", f"The roles with ID `{role_id}` does not exist.")
            if row["type"] != "MachineToMachine":
                raise LogtoError(422, "application.invalid_role_type", "Can not assign user type role to application.")
        for role_id in added:
            store.db.execute("INSERT INTO applications_roles VALUES (?,?)", (app_id, role_id))
        return _json({"roleIds": role_ids, "addedRoleIds": added}, 201)
