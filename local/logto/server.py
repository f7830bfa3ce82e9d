"""The Logto stand-in: OIDC (JWKS, client-credentials token endpoint) and the Management API routes the operations call,
with Logto's status codes, error bodies ({code, message}), pagination headers and validation (notes/logto.md §3-§4).
Routing follows koa-router as Logto uses it: a trailing slash is accepted on every route, a known path with a method it
lacks is 405 plain text "Method Not Allowed", an unknown path 404 plain text "Not Found".

This module builds the app and holds the organization, member, role and resource routes; the other families each live
in their own module: oidc.py (discovery, sign-in, user grants), token_exchange.py (subject tokens), invitation_routes.py,
tenant_admin_routes.py + application_routes.py (what `make logto-setup` writes), provisioning.py (users for `make
smoke`), faults.py (counters, injected faults, the store lock), dev_routes.py (/__dev/ helpers), compression.py
(koa-compress), store.py (SQLite and the seed), tenant_seed.py (the seed from tenant/description.yaml).

Extra, for local use only, under /__dev/:
  POST /__dev/tokens     {"kind": "organization"|"organization_api"|"global_api", "userId": "alice" | "applicationId":
                          "demo-m2m-app", "organizationId"?, "scopes"?: [...], "expiresIn"?, "alg"?} -> {token, scope, aud}
                          (scope = requested ∩ what Logto would grant; see mint())
  POST /__dev/sign       {"claims": {...}, "alg"?, "header"?} -> {token}
  GET  /__dev/stats      request counters, and injected faults by kind
  POST /__dev/faults     one rule, applied to the next `times` matching requests (-1: until cleared):
                           {"pathPrefix": "/api/", "method"?: "DELETE", "times": 1,
                            "status"?: 503, "retryAfter"?: 2, "delayMs"?: 300,
                            "lost"?: "status" | "drop" | "garbled"}
                         "lost": the request IS carried out, then the answer is lost: "status" answers 500,
                         "drop" closes the connection without an answer, "garbled" answers 200 with a body that is
                         not JSON (a proxy's page: the change happened, its answer cannot be read).
                         Or a rate-based chaos mode for every /api/ request until cleared:
                           {"rate": 0.1, "kinds": ["429", "500", "slow", "lost", "drop"], "seed": 1,
                            "slowMs"?: 1500, "retryAfter"?: 1}
                         each request draws a fault with probability `rate`, its kind uniformly from `kinds`:
                         a status code ("429" with Retry-After, "500", "503", ...: answered before anything is done),
                         "slow" (delayed by slowMs, then served), "lost" / "drop" (carried out, then 500 / dropped).
  DELETE /__dev/faults   clear every rule and the chaos mode
  GET  /__dev/outbox     invitation e-mails Logto would have sent: [{to, invitationId, link, organizationId, at}]
  DELETE /__dev/outbox   forget them
  POST /__dev/reset      back to the seed (users, organizations, roles, invitations, outbox); the signing keys stay,
                         so tokens minted before still verify (`make invoke`'s event test starts each event from here)
  GET|POST /__dev/connector  {"email": false} simulates a tenant with no e-mail connector (501 connector.not_found)
  GET  /__dev/info       issuer, resources, users (and the seeded users' password), organizations, applications,
                         the SPA apps that sign in here (spaApps: id, redirectUris, postLogoutRedirectUris)
  GET|POST /__dev/oidc   sign-in settings: {"accessTokenTtl", "codeTtl"} in seconds (oidc.py)

Run: python -m local.logto.server --port 3002 [--data .local] [--reset]   (3001 is the demo console's default port;
`make local` gives the stand-in a free port unless LOGTO_PORT is set)
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import signal
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from flask import Flask, Response, request
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.serving import make_server

from local.lifeline import follow_parent
from local.logto import compression, dev_routes, invitation_routes, provisioning, token_exchange
from local.logto.application_routes import register as register_applications
from local.logto.credentials import M2M_APP_ID, M2M_APP_SECRET
from local.logto.faults import RequestPlumbing
from local.logto.keys import KeyRing
from local.logto.oidc import console_client, create_oidc
from local.logto.store import Store, new_id, now_ms
from local.logto.tenant_admin_routes import Helpers
from local.logto.tenant_admin_routes import register as register_tenant_admin
from local.logto.tenant_seed import apply_description, desired_for


class LogtoError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {}, mimetype="application/json")


def _guard(condition: bool, detail: str) -> None:
    if not condition:
        raise LogtoError(400, "guard.invalid_input", "The request body is invalid.", details=detail)


def _str_list(body: dict[str, Any], key: str, *, min_items: int = 0, required: bool = True) -> list[str]:
    value = body.get(key)
    if value is None and not required:
        return []
    _guard(
        isinstance(value, list) and all(isinstance(v, str) and v for v in value) and len(value) >= min_items,
        f'Error in key path "{key}": expected an array of strings with at least {min_items} item(s).',
    )
    return list(dict.fromkeys(value))


def create_app(
    data_dir: Path,
    *,
    issuer_base: str,
    management_resource: str,
    api_resource: str,
    console_url: str = "http://127.0.0.1:3001",
) -> Flask:
    app = Flask("logto-stand-in")
    # koa-router (Logto's router) is not strict about a trailing slash: `DELETE /api/organizations/{id}/` deletes
    # the organization (notes/logto-observed.md "Routing is not strict about a trailing slash"). Nor does it merge
    # slashes: `//` matches nothing.
    app.url_map.strict_slashes = False
    app.url_map.merge_slashes = False
    store = Store(data_dir / "logto.sqlite", api_resource=api_resource, management_resource=management_resource)
    keys = KeyRing(data_dir / "logto-keys.json")
    issuer = f"{issuer_base}/oidc"
    requests = RequestPlumbing(store, _json)  # counts, injected faults, the store lock (faults.py)
    outbox: list[dict[str, Any]] = []
    connectors = {"email": True}
    app.config.update(store=store, keys=keys, issuer=issuer, outbox=outbox)
    # Discovery, authorization code + PKCE, the sign-in page, end session; the user grants of /oidc/token below.
    oidc_routes, user_grants, oidc_state = create_oidc(
        store=store, keys=keys, issuer=issuer, api_resource=api_resource, clients=[console_client(console_url)]
    )
    app.register_blueprint(oidc_routes)

    # -- plumbing ------------------------------------------------------------------------------------------------------
    @app.errorhandler(LogtoError)
    def logto_error(error: LogtoError) -> Response:
        return _json({"code": error.code, "message": error.message, **error.extra}, error.status)

    @app.errorhandler(404)
    def not_found(_: Exception) -> Response:
        # Koa's default answer for a path no route matches: plain text, no JSON, no code.
        return Response("Not Found", status=404, mimetype="text/plain")

    @app.errorhandler(405)
    def not_allowed(error: MethodNotAllowed) -> Response:
        # koa-router allowedMethods(): a path some route matches, with a method none of them has.
        allow = ", ".join(sorted(error.valid_methods or []))
        return Response("Method Not Allowed", status=405, mimetype="text/plain", headers={"Allow": allow})

    requests.install(app)
    compression.install(app)  # as Logto's koa-compress(): gzip/deflate answers of 1 KB or more, Vary, 406

    def body() -> dict[str, Any]:
        data = request.get_json(silent=True)
        _guard(isinstance(data, dict), "Expected a JSON object body.")
        return data

    def require_m2m() -> None:
        header = request.headers.get("Authorization", "")
        if not header:
            raise LogtoError(401, "auth.authorization_header_missing", "Authorization header is missing.")
        if not header.startswith("Bearer "):
            raise LogtoError(401, "auth.authorization_token_type_not_supported", "Authorization type is not supported.")
        try:
            claims = keys.verify(header[7:], issuer, management_resource)
        except Exception:
            raise LogtoError(
                401, "auth.unauthorized", "Unauthorized. Please check credentials and its scope."
            ) from None
        if "all" not in str(claims.get("scope", "")).split():
            raise LogtoError(403, "auth.forbidden", "Forbidden. Please check your permissions.")

    def page_params(required: bool) -> tuple[int, int] | None:
        raw_page, raw_size = request.args.get("page"), request.args.get("page_size")
        if not required and raw_page is None and raw_size is None:
            return None
        try:
            page, size = int(raw_page or 1), int(raw_size or 20)
        except ValueError:
            raise LogtoError(400, "guard.invalid_pagination", "The pagination value is invalid.") from None
        if page < 1 or size < 1 or size > 100:
            raise LogtoError(400, "guard.invalid_pagination", "The pagination value is invalid.")
        return page, size

    def paginated(items: list[Any], page: tuple[int, int] | None) -> Response:
        if page is None:
            return _json(items)
        number, size = page
        last = max(1, -(-len(items) // size))
        base = request.base_url
        links = [f'<{base}?page=1&page_size={size}>; rel="first"']
        if number > 1:
            links.append(f'<{base}?page={number - 1}&page_size={size}>; rel="prev"')
        if number < last:
            links.append(f'<{base}?page={number + 1}&page_size={size}>; rel="next"')
        links.append(f'<{base}?page={last}&page_size={size}>; rel="last"')
        chunk = items[(number - 1) * size : number * size]
        return _json(chunk, headers={"Total-Number": str(len(items)), "Link": ", ".join(links)})

    def org_or_404(org_id: str, code: str = "entity.not_exists_with_id") -> sqlite3.Row:
        row = store.one("SELECT * FROM organizations WHERE id = ?", org_id)
        if row is None:
            raise LogtoError(404, code, f"The organizations with ID `{org_id}` does not exist.")
        return row

    def require_member(org_id: str, user_id: str) -> None:
        if not store.one("SELECT 1 FROM members WHERE org_id = ? AND user_id = ?", org_id, user_id):
            raise LogtoError(422, "organization.require_membership", "The user must be a member of the organization.")

    def fk_violation() -> LogtoError:
        return LogtoError(422, "entity.relation_foreign_key_not_found", "Cannot find one or more foreign keys.")

    def role_ids_from(data: dict[str, Any]) -> list[str]:
        ids = _str_list(data, "organizationRoleIds", required=False)
        names = _str_list(data, "organizationRoleNames", required=False)
        if names:
            rows = {
                r["name"]: r["id"]
                for r in store.q(f"SELECT id, name FROM org_roles WHERE name IN ({','.join('?' * len(names))})", *names)
            }
            missing = [n for n in names if n not in rows]
            if missing:
                raise LogtoError(
                    422,
                    "organization.role_names_not_found",
                    f"One or more role names were not found: {', '.join(missing)}.",
                )
            ids += [rows[n] for n in names]
        return list(dict.fromkeys(ids))

    def check_roles(role_ids: list[str], role_type: str) -> None:
        """Users get only `User` organization roles, applications only `MachineToMachine` ones (a check constraint
        in Logto: organization_role_user_relations / organization_role_application_relations)."""
        for role_id in role_ids:
            row = store.one("SELECT type FROM org_roles WHERE id = ?", role_id)
            if row is None:
                raise fk_violation()
            if row["type"] != role_type:
                raise LogtoError(422, "entity.db_constraint_violated", "Database constraint violated.")

    # throwaway users and apps, subject tokens and the token-exchange grant (what `make smoke` uses on a real tenant)
    provisioning.install(app, store, require_m2m=require_m2m, error=LogtoError)
    exchange = token_exchange.TokenExchange(store, keys, issuer)
    token_exchange.install(app, exchange, require_m2m=require_m2m, error=LogtoError)

    # -- OIDC ----------------------------------------------------------------------------------------------------------
    @app.get("/oidc/jwks")
    def jwks() -> Response:
        return _json(keys.jwks, headers={"Cache-Control": "no-cache, max-age=0, must-revalidate"})

    @app.post("/oidc/token")
    def token() -> Response:
        form = request.form
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
                client_id, client_secret = unquote(client_id), unquote(client_secret)
            except Exception:
                client_id = None

        def oidc_error(status: int, error: str, description: str) -> Response:
            return _json(
                {"code": f"oidc.{error}", "message": description, "error": error, "error_description": description},
                status,
            )

        if form.get("grant_type") == token_exchange.GRANT_TYPE:
            return exchange.grant(client_id, client_secret, form)
        user_grant = user_grants.get(form.get("grant_type", ""))  # sign-in through the stand-in (oidc.py)
        if user_grant is not None:
            return user_grant(form)
        if form.get("grant_type") != "client_credentials":
            return oidc_error(400, "unsupported_grant_type", "unsupported grant_type requested")
        if client_id != M2M_APP_ID:
            return oidc_error(400, "invalid_client", "client is invalid")
        if client_secret != M2M_APP_SECRET:
            return oidc_error(401, "invalid_client", "client authentication failed")
        resource = form.get("resource")
        if not resource:
            return oidc_error(400, "invalid_target", "both `resource` and `organization_id` are not provided")
        if resource != management_resource:
            return oidc_error(400, "invalid_target", "resource indicator is missing, or unknown")
        scope = "all" if "all" in (form.get("scope") or "").split() else ""
        access_token = keys.access_token(issuer, M2M_APP_ID, M2M_APP_ID, management_resource, scope)
        return _json({"access_token": access_token, "expires_in": 3600, "token_type": "Bearer", "scope": scope})

    # -- organizations -------------------------------------------------------------------------------------------------
    @app.post("/api/organizations")
    def create_organization() -> Response:
        require_m2m()
        data = body()
        _guard(
            isinstance(data.get("name"), str) and 1 <= len(data["name"]) <= 128,
            'Error in key path "name": (invalid_type) Expected string but received undefined.',
        )
        _guard(
            data.get("description") is None
            or (isinstance(data["description"], str) and len(data["description"]) <= 256),
            'Error in key path "description": invalid.',
        )
        _guard(
            data.get("customData") is None or isinstance(data["customData"], dict), 'Error in key path "customData".'
        )
        extra = {k: data[k] for k in ("isMfaRequired", "color", "branding", "customCss") if k in data}
        org_id = new_id()
        store.db.execute(
            "INSERT INTO organizations VALUES (?,?,?,?,?,?)",
            (
                org_id,
                data["name"],
                data.get("description"),
                json.dumps(data.get("customData") or {}),
                json.dumps(extra),
                now_ms(),
            ),
        )
        return _json(store.organization(org_or_404(org_id)), 201)

    @app.get("/api/organizations")
    def list_organizations() -> Response:
        """Logto: packages/core/src/routes/organization/index.ts (koaPagination, `q` searched in `id` and `name`
        with `ilike '%q%'` and no escaping: packages/core/src/database/utils.ts buildSearchSql)."""
        require_m2m()
        page = page_params(required=True)
        sql, args = "SELECT * FROM organizations", []
        if request.args.get("q"):
            sql += " WHERE id LIKE ? OR name LIKE ?"
            args += [f"%{request.args['q']}%"] * 2
        rows = store.q(sql + " ORDER BY created_at DESC, id", *args)
        return paginated([store.organization(r) for r in rows], page)

    @app.get("/api/organizations/<org_id>")
    def get_organization(org_id: str) -> Response:
        require_m2m()
        return _json(store.organization(org_or_404(org_id)))

    @app.patch("/api/organizations/<org_id>")
    def update_organization(org_id: str) -> Response:
        require_m2m()
        data = body()
        row = org_or_404(org_id, "entity.not_exists")
        if "name" in data:
            _guard(isinstance(data["name"], str) and 1 <= len(data["name"]) <= 128, 'Error in key path "name".')
        if "description" in data:
            _guard(
                data["description"] is None
                or (isinstance(data["description"], str) and len(data["description"]) <= 256),
                'Error in key path "description".',
            )
        if "customData" in data:
            _guard(isinstance(data["customData"], dict), 'Error in key path "customData".')
        store.db.execute(
            "UPDATE organizations SET name = ?, description = ?, custom_data = ? WHERE id = ?",
            (
                data.get("name", row["name"]),
                data["description"] if "description" in data else row["description"],
                json.dumps(data["customData"]) if "customData" in data else row["custom_data"],
                org_id,
            ),
        )  # jsonb: replaced
        return _json(store.organization(org_or_404(org_id)))

    @app.delete("/api/organizations/<org_id>")
    def delete_organization(org_id: str) -> Response:
        require_m2m()
        org_or_404(org_id, "entity.not_found")
        store.db.execute("DELETE FROM organizations WHERE id = ?", (org_id,))
        return Response(status=204)

    @app.get("/api/users/<user_id>/organizations")
    def user_organizations(user_id: str) -> Response:
        require_m2m()
        if not store.one("SELECT 1 FROM users WHERE id = ?", user_id):
            raise LogtoError(404, "entity.not_exists_with_id", f"The users with ID `{user_id}` does not exist.")
        rows = store.q(
            "SELECT o.* FROM organizations o JOIN members m ON m.org_id = o.id WHERE m.user_id = ? "
            "ORDER BY o.created_at",
            user_id,
        )
        return _json([{**store.organization(r), "organizationRoles": store.role_refs(r["id"], user_id)} for r in rows])

    # -- members -------------------------------------------------------------------------------------------------------
    @app.get("/api/organizations/<org_id>/users")
    def list_members(org_id: str) -> Response:
        require_m2m()
        page = page_params(required=True)
        sql = "SELECT u.* FROM users u JOIN members m ON m.user_id = u.id WHERE m.org_id = ?"
        args: list[Any] = [org_id]
        if request.args.get("organizationRoleId"):
            sql += " AND EXISTS (SELECT 1 FROM member_roles r WHERE r.org_id = m.org_id AND r.user_id = u.id AND r.role_id = ?)"
            args.append(request.args["organizationRoleId"])
        if request.args.get("q"):
            sql += " AND (u.id LIKE ? OR u.primary_email LIKE ? OR u.username LIKE ? OR u.name LIKE ?)"
            args += [f"%{request.args['q']}%"] * 4
        rows = store.q(sql + " ORDER BY u.created_at, u.id", *args)
        return paginated([store.user(r, org_id) for r in rows], page)

    @app.post("/api/organizations/<org_id>/users")
    def add_members(org_id: str) -> Response:
        require_m2m()
        user_ids = _str_list(body(), "userIds", min_items=1)
        try:
            store.db.execute("BEGIN")
            for user_id in user_ids:
                store.db.execute("INSERT INTO members VALUES (?,?) ON CONFLICT DO NOTHING", (org_id, user_id))
            store.db.execute("COMMIT")
        except sqlite3.IntegrityError:
            store.db.execute("ROLLBACK")
            raise fk_violation() from None
        return _json({"userIds": user_ids}, 201)

    @app.delete("/api/organizations/<org_id>/users/<user_id>")
    def remove_member(org_id: str, user_id: str) -> Response:
        require_m2m()
        if store.db.execute("DELETE FROM members WHERE org_id = ? AND user_id = ?", (org_id, user_id)).rowcount == 0:
            raise LogtoError(404, "entity.not_found", "The resource does not exist.")
        return Response(status=204)

    @app.post("/api/organizations/<org_id>/users/roles")
    def assign_roles(org_id: str) -> Response:
        require_m2m()
        data = body()
        user_ids = _str_list(data, "userIds", min_items=1)
        role_ids = _str_list(data, "organizationRoleIds", min_items=1)
        check_roles(role_ids, "User")
        try:
            store.db.execute("BEGIN")
            for user_id in user_ids:
                for role_id in role_ids:
                    store.db.execute(
                        "INSERT INTO member_roles VALUES (?,?,?) ON CONFLICT DO NOTHING", (org_id, user_id, role_id)
                    )
            store.db.execute("COMMIT")
        except sqlite3.IntegrityError:
            store.db.execute("ROLLBACK")
            raise fk_violation() from None
        return Response(status=201)

    @app.get("/api/organizations/<org_id>/users/<user_id>/roles")
    def member_roles(org_id: str, user_id: str) -> Response:
        require_m2m()
        page = page_params(required=False)
        require_member(org_id, user_id)
        rows = store.q(
            "SELECT r.* FROM member_roles m JOIN org_roles r ON r.id = m.role_id WHERE m.org_id = ? "
            "AND m.user_id = ? ORDER BY r.name",
            org_id,
            user_id,
        )
        return paginated([store.org_role_entity(r) for r in rows], page)

    def set_member_roles(org_id: str, user_id: str, replace: bool) -> list[str]:
        data = body()
        require_member(org_id, user_id)
        role_ids = role_ids_from(data)
        check_roles(role_ids, "User")
        store.db.execute("BEGIN")
        if replace:
            store.db.execute("DELETE FROM member_roles WHERE org_id = ? AND user_id = ?", (org_id, user_id))
        for role_id in role_ids:
            store.db.execute(
                "INSERT INTO member_roles VALUES (?,?,?) ON CONFLICT DO NOTHING", (org_id, user_id, role_id)
            )
        store.db.execute("COMMIT")
        return role_ids

    @app.put("/api/organizations/<org_id>/users/<user_id>/roles")
    def replace_member_roles(org_id: str, user_id: str) -> Response:
        require_m2m()
        set_member_roles(org_id, user_id, replace=True)
        return Response(status=204)

    @app.post("/api/organizations/<org_id>/users/<user_id>/roles")
    def add_member_roles(org_id: str, user_id: str) -> Response:
        require_m2m()
        return _json({"organizationRoleIds": set_member_roles(org_id, user_id, replace=False)}, 201)

    # -- roles ---------------------------------------------------------------------------------------------------------
    @app.get("/api/organization-roles")
    def organization_roles() -> Response:
        require_m2m()
        page = page_params(required=True)
        return paginated([store.role(r) for r in store.q("SELECT * FROM org_roles ORDER BY name")], page)

    # Tenant-admin routes the service never calls, for tests that shape the organization template as an admin would
    # (routes/organization-role/index.ts POST /, routes/organization-scope/index.ts GET /, routes/resource.scope.ts).
    @app.post("/api/organization-roles")
    def create_organization_role() -> Response:
        require_m2m()
        data = body()
        name = data.get("name")
        _guard(isinstance(name, str) and 1 <= len(name) <= 128, "name must be a non-empty string.")
        role_type = data.get("type", "User")
        _guard(role_type in ("User", "MachineToMachine"), "type must be User or MachineToMachine.")
        scope_ids = _str_list(data, "organizationScopeIds", required=False)
        resource_scope_ids = _str_list(data, "resourceScopeIds", required=False)
        if store.one("SELECT 1 FROM org_roles WHERE name = ?", name):
            raise LogtoError(422, "entity.unique_integrity_violation", "The entity already exists.")
        role_id = new_id()
        try:
            store.db.execute("BEGIN")
            store.db.execute(
                "INSERT INTO org_roles (id, name, description, type) VALUES (?, ?, ?, ?)",
                (role_id, name, data.get("description"), role_type),
            )
            for scope_id in scope_ids:
                store.db.execute("INSERT INTO role_scopes VALUES (?, ?)", (role_id, scope_id))
            for scope_id in resource_scope_ids:
                store.db.execute("INSERT INTO role_resource_scopes VALUES (?, ?)", (role_id, scope_id))
            store.db.execute("COMMIT")
        except sqlite3.IntegrityError:
            store.db.execute("ROLLBACK")
            raise fk_violation() from None
        return _json(store.role(store.one("SELECT * FROM org_roles WHERE id = ?", role_id)), 201)

    @app.get("/api/organization-scopes")
    def organization_scopes() -> Response:
        require_m2m()
        page = page_params(required=False)
        rows = store.q("SELECT * FROM org_scopes ORDER BY name")
        return paginated(
            [{"tenantId": "default", "id": r["id"], "name": r["name"], "description": r["description"]} for r in rows],
            page,
        )

    @app.get("/api/resources/<resource_id>/scopes")
    def resource_scopes(resource_id: str) -> Response:
        require_m2m()
        page = page_params(required=False)
        if not store.one("SELECT 1 FROM resources WHERE id = ?", resource_id):
            raise LogtoError(404, "entity.not_exists_with_id", f"The resource with ID `{resource_id}` does not exist.")
        rows = store.q("SELECT * FROM scopes WHERE resource_id = ? ORDER BY rowid", resource_id)
        return paginated([store.scope_with_resource(r) for r in rows], page)

    # -- users and their global roles (routes/admin-user/basics.ts, role.ts; routes/role.scope.ts; routes/resource.ts)
    def user_or_404(user_id: str) -> sqlite3.Row:
        row = store.one("SELECT * FROM users WHERE id = ?", user_id)
        if row is None:
            raise LogtoError(404, "entity.not_exists_with_id", f"The users with ID `{user_id}` does not exist.")
        return row

    @app.get("/api/users/<user_id>")
    def get_user(user_id: str) -> Response:
        require_m2m()
        return _json({**store.user(user_or_404(user_id)), "hasPassword": False})

    @app.get("/api/users/<user_id>/roles")
    def user_roles(user_id: str) -> Response:
        require_m2m()
        page = page_params(required=True)  # koaPagination() without isOptional: always paginated, 20 by default
        user_or_404(user_id)
        rows = store.q(
            "SELECT r.* FROM roles r JOIN users_roles ur ON ur.role_id = r.id WHERE ur.user_id = ? AND r.type = 'User' "
            "ORDER BY r.rowid",
            user_id,
        )
        return paginated([store.global_role(r) for r in rows], page)

    @app.get("/api/roles/<role_id>/scopes")
    def role_scopes(role_id: str) -> Response:
        require_m2m()
        page = page_params(required=False)
        if not store.one("SELECT 1 FROM roles WHERE id = ?", role_id):
            raise LogtoError(404, "entity.not_exists_with_id", f"The roles with ID `{role_id}` does not exist.")
        rows = store.q(
            "SELECT s.* FROM scopes s JOIN roles_scopes rs ON rs.scope_id = s.id WHERE rs.role_id = ? ORDER BY s.rowid",
            role_id,
        )
        return paginated([store.scope_with_resource(r) for r in rows], page)

    @app.get("/api/resources")
    def resources() -> Response:
        require_m2m()
        page = page_params(required=False)
        return paginated([store.resource(r) for r in store.q("SELECT * FROM resources ORDER BY rowid")], page)

    # -- applications in organizations (routes/organization/application/index.ts, role-relations.ts) ----------------
    def require_app_member(org_id: str, app_id: str) -> None:
        if not store.one("SELECT 1 FROM org_applications WHERE org_id = ? AND app_id = ?", org_id, app_id):
            raise LogtoError(422, "organization.require_membership", "The application must be a member.")

    @app.get("/api/organizations/<org_id>/applications")
    def organization_applications(org_id: str) -> Response:
        require_m2m()
        page = page_params(required=True)
        rows = store.q(
            "SELECT a.* FROM applications a JOIN org_applications o ON o.app_id = a.id WHERE o.org_id = ? "
            "ORDER BY a.created_at",
            org_id,
        )
        items = [
            {
                "tenantId": "default",
                "id": r["id"],
                "name": r["name"],
                "description": r["description"],
                "type": r["type"],
                "createdAt": r["created_at"],
                "organizationRoles": store.app_role_refs(org_id, r["id"]),
            }
            for r in rows
        ]
        return paginated(items, page)

    @app.post("/api/organizations/<org_id>/applications")
    def add_organization_applications(org_id: str) -> Response:
        require_m2m()
        app_ids = _str_list(body(), "applicationIds", min_items=1)
        try:
            store.db.execute("BEGIN")
            for app_id in app_ids:
                store.db.execute("INSERT INTO org_applications VALUES (?,?) ON CONFLICT DO NOTHING", (org_id, app_id))
            store.db.execute("COMMIT")
        except sqlite3.IntegrityError:
            store.db.execute("ROLLBACK")
            raise fk_violation() from None
        return Response("Created", status=201, mimetype="text/plain")

    @app.delete("/api/organizations/<org_id>/applications/<app_id>")
    def remove_organization_application(org_id: str, app_id: str) -> Response:
        require_m2m()
        sql = "DELETE FROM org_applications WHERE org_id = ? AND app_id = ?"
        if store.db.execute(sql, (org_id, app_id)).rowcount == 0:
            raise LogtoError(404, "entity.not_found", "The resource does not exist.")
        return Response(status=204)

    @app.get("/api/organizations/<org_id>/applications/<app_id>/roles")
    def application_roles(org_id: str, app_id: str) -> Response:
        require_m2m()
        page = page_params(required=False)
        require_app_member(org_id, app_id)
        rows = store.q(
            "SELECT r.* FROM org_application_roles a JOIN org_roles r ON r.id = a.role_id WHERE a.org_id = ? "
            "AND a.app_id = ? ORDER BY r.name",
            org_id,
            app_id,
        )
        return paginated([store.org_role_entity(r) for r in rows], page)

    def set_application_roles(org_id: str, app_id: str, replace: bool) -> None:
        role_ids = _str_list(body(), "organizationRoleIds", min_items=1)
        require_app_member(org_id, app_id)
        check_roles(role_ids, "MachineToMachine")
        store.db.execute("BEGIN")
        if replace:
            store.db.execute("DELETE FROM org_application_roles WHERE org_id = ? AND app_id = ?", (org_id, app_id))
        for role_id in role_ids:
            store.db.execute(
                "INSERT INTO org_application_roles VALUES (?,?,?) ON CONFLICT DO NOTHING", (org_id, app_id, role_id)
            )
        store.db.execute("COMMIT")

    @app.post("/api/organizations/<org_id>/applications/<app_id>/roles")
    def add_application_roles(org_id: str, app_id: str) -> Response:
        require_m2m()
        set_application_roles(org_id, app_id, replace=False)
        return Response("Created", status=201, mimetype="text/plain")

    @app.put("/api/organizations/<org_id>/applications/<app_id>/roles")
    def replace_application_roles(org_id: str, app_id: str) -> Response:
        require_m2m()
        set_application_roles(org_id, app_id, replace=True)
        return Response(status=204)

    # -- invitations (routes/organization-invitation/index.ts, libraries/organization-invitation.ts) ------------------
    dev_routes.register(
        app,
        store=store,
        keys=keys,
        issuer=issuer,
        api_resource=api_resource,
        management_resource=management_resource,
        outbox=outbox,
        connectors=connectors,
        lock=requests.lock,
        clients=oidc_state.clients.values(),
        json_answer=_json,
    )
    helpers = Helpers(require_m2m, body, page_params, paginated, LogtoError, _json, _guard, _str_list)
    invitation_routes.register(
        app,
        store,
        helpers,
        fk_violation=fk_violation,
        check_roles=check_roles,
        user_or_404=user_or_404,
        connectors=connectors,
        outbox=outbox,
        lock=requests.lock,
    )
    register_tenant_admin(app, store, helpers)
    register_applications(app, store, helpers)
    desired = desired_for(api_resource, management_resource)
    store.names = {**desired.names, "admin": desired.creator_role}
    store.apply_template = lambda: apply_description(app, desired, management_resource)
    store.seed_if_empty()
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3002)
    parser.add_argument("--data", type=Path, default=Path(".local"))
    parser.add_argument("--reset", action="store_true", help="forget all state (users, organizations, keys)")
    parser.add_argument("--management-resource", default="https://default.logto.app/api")
    parser.add_argument("--api-resource", default="https://api.example.com/org")
    parser.add_argument("--console-url", default="http://127.0.0.1:3001", help="the demo console (its SPA app)")
    args = parser.parse_args()
    if args.reset:
        for name in ("logto.sqlite", "logto-keys.json"):
            (args.data / name).unlink(missing_ok=True)
    app = create_app(
        args.data,
        issuer_base=f"http://{args.host}:{args.port}",
        management_resource=args.management_resource,
        api_resource=args.api_resource,
        console_url=args.console_url,
    )
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    follow_parent()
    server = make_server(args.host, args.port, app, threaded=True)
    print(f"logto stand-in listening on http://{args.host}:{args.port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
