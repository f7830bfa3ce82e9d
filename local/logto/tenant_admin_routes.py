"""The Management API write routes `make logto-setup` uses (tenant/), served as Logto 1.42 serves them, so the stand-in
can be set up, and checked, by the same code as a real tenant. Each route names its source in logto-io/logto
(packages/core/src/routes/..., read at tag v1.42.0). The list routes the service itself reads stay in server.py.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, request

from local.logto.store import Store, new_id, now_ms


@dataclass(frozen=True)
class Helpers:
    """server.py's request plumbing, handed over so these routes answer exactly as its own do."""

    require_m2m: Callable[[], None]
    body: Callable[[], dict[str, Any]]
    page_params: Callable[[bool], tuple[int, int] | None]
    paginated: Callable[[list[Any], tuple[int, int] | None], Response]
    # server.py's error type and body helpers (passed in: `python -m local.logto.server` runs that module as
    # __main__, and a second import of it would bring a second LogtoError its error handler does not know)
    error: Callable[..., Exception]
    json: Callable[..., Response]
    guard: Callable[[bool, str], None]
    str_list: Callable[..., list[str]]


def register(app: Flask, store: Store, h: Helpers) -> None:
    LogtoError, _guard, _json, _str_list = h.error, h.guard, h.json, h.str_list

    def name_of(data: dict[str, Any], key: str = "name") -> str:
        value = data.get(key)
        _guard(isinstance(value, str) and 1 <= len(value) <= 128, f'Error in key path "{key}".')
        return str(value)

    def optional_text(data: dict[str, Any], key: str) -> str | None:
        value = data.get(key)
        _guard(value is None or isinstance(value, str), f'Error in key path "{key}".')
        return value

    def not_exists(table: str, entity_id: str) -> Exception:
        return LogtoError(404, "entity.not_exists_with_id", f"The {table} with ID `{entity_id}` does not exist.")

    def unique_violation() -> Exception:
        # slonik's UniqueIntegrityConstraintViolationError, mapped by koa-slonik-error-handler
        return LogtoError(422, "entity.unique_integrity_violation", "The entity already exists.")

    def fk_violation() -> Exception:
        return LogtoError(422, "entity.relation_foreign_key_not_found", "Cannot find one or more foreign keys.")

    def insert_all(sql: str, rows: list[tuple[Any, ...]], *, ignore_duplicates: bool) -> None:
        """Relation rows in one transaction; RelationQueries.insert ends with `on conflict do nothing`."""
        verb = "INSERT OR IGNORE" if ignore_duplicates else "INSERT"
        store.db.execute("BEGIN")
        try:
            for row in rows:
                store.db.execute(sql.replace("INSERT", verb, 1), row)
            store.db.execute("COMMIT")
        except sqlite3.IntegrityError:
            store.db.execute("ROLLBACK")
            raise fk_violation() from None

    # -- API resources and their permissions (resource.ts, resource.scope.ts) -----------------------------------------
    @app.post("/api/resources", endpoint="tenant_admin.create_resource")
    def create_resource() -> Response:
        """201 with `scopes: []`; 422 resource.resource_identifier_in_use for an indicator the tenant has."""
        h.require_m2m()
        data = h.body()
        name, indicator = name_of(data), data.get("indicator")
        _guard(isinstance(indicator, str) and indicator != "", 'Error in key path "indicator".')
        ttl = data.get("accessTokenTtl", 3600)
        _guard(isinstance(ttl, int) and not isinstance(ttl, bool), 'Error in key path "accessTokenTtl".')
        if store.one("SELECT 1 FROM resources WHERE indicator = ?", indicator):
            raise LogtoError(
                422,
                "resource.resource_identifier_in_use",
                f"The API identifier {indicator} is already in use.",
                data={"indicator": indicator},
            )
        resource_id = new_id(21)
        store.db.execute("INSERT INTO resources VALUES (?,?,?,?,?)", (resource_id, name, indicator, 0, ttl))
        row = store.one("SELECT * FROM resources WHERE id = ?", resource_id)
        assert row is not None
        return _json({**store.resource(row), "scopes": []}, 201)

    @app.post("/api/resources/<resource_id>/scopes", endpoint="tenant_admin.create_resource_scope")
    def create_resource_scope(resource_id: str) -> Response:
        """400 scope.name_with_space; 404 unknown resource; 400 for the Management API's own resource;
        422 scope.name_exists (names are unique per resource only)."""
        h.require_m2m()
        data = h.body()
        name, description = name_of(data), optional_text(data, "description")
        if any(c.isspace() for c in name):
            raise LogtoError(400, "scope.name_with_space", "The name of the scope cannot contain any spaces.")
        resource = store.one("SELECT * FROM resources WHERE id = ?", resource_id)
        if resource is None:
            raise not_exists("resources", resource_id)
        if resource["indicator"] == store.management_resource:
            raise LogtoError(400, "resource.cannot_modify_management_api", "Cannot modify or delete management API.")
        if store.one("SELECT 1 FROM scopes WHERE resource_id = ? AND name = ?", resource_id, name):
            raise LogtoError(422, "scope.name_exists", f"The scope name {name} is already in use.", data={"name": name})
        scope_id = new_id(21)
        store.db.execute("INSERT INTO scopes VALUES (?,?,?,?,?)", (scope_id, resource_id, name, description, now_ms()))
        row = store.one("SELECT * FROM scopes WHERE id = ?", scope_id)
        assert row is not None
        return _json(
            {
                "tenantId": "default",
                "id": row["id"],
                "resourceId": row["resource_id"],
                "name": row["name"],
                "description": row["description"],
                "createdAt": row["created_at"],
            },
            201,
        )

    # -- organization permissions (organization-scope/index.ts: a SchemaRouter, POST / is 201) ---------------------
    @app.post("/api/organization-scopes", endpoint="tenant_admin.create_organization_scope")
    def create_organization_scope() -> Response:
        h.require_m2m()
        data = h.body()
        name, description = name_of(data), optional_text(data, "description")
        scope_id = new_id(21)
        try:
            store.db.execute("INSERT INTO org_scopes VALUES (?,?,?)", (scope_id, name, description))
        except sqlite3.IntegrityError:
            raise unique_violation() from None
        return _json({"tenantId": "default", "id": scope_id, "name": name, "description": description}, 201)

    # -- an organization role's permissions (organization-role/index.ts addRelationRoutes 'scopes' and
    # 'resource-scopes' with isPaginationOptional; utils/SchemaRouter.ts: POST {<relation>Ids: [...]} 201, DELETE 204,
    # a relation that is not there 404 entity.not_found via koa-slonik-error-handler's DeletionError) ----------------
    def org_role_or_404(role_id: str) -> None:
        if not store.one("SELECT 1 FROM org_roles WHERE id = ?", role_id):
            raise not_exists("organization_roles", role_id)

    def relation_routes(path: str, table: str, key: str, entity_sql: str, entity: Callable[[sqlite3.Row], Any]) -> None:
        def listed(role_id: str) -> Response:
            h.require_m2m()
            page = h.page_params(False)
            org_role_or_404(role_id)
            rows = store.q(entity_sql, role_id)
            return h.paginated([entity(r) for r in rows], page)

        def added(role_id: str) -> Response:
            h.require_m2m()
            ids = _str_list(h.body(), key, min_items=1)
            org_role_or_404(role_id)
            insert_all(f"INSERT INTO {table} VALUES (?, ?)", [(role_id, i) for i in ids], ignore_duplicates=True)
            return Response(status=201)

        def removed(role_id: str, scope_id: str) -> Response:
            h.require_m2m()
            gone = store.db.execute(f"DELETE FROM {table} WHERE role_id = ? AND scope_id = ?", (role_id, scope_id))
            if gone.rowcount < 1:  # RelationQueries.delete: DeletionError
                raise LogtoError(404, "entity.not_found", "Entity not found.")
            return Response(status=204)

        endpoint = path.replace("-", "_")
        app.add_url_rule(
            f"/api/organization-roles/<role_id>/{path}",
            f"tenant_admin.list_org_role_{endpoint}",
            listed,
            methods=["GET"],
        )
        app.add_url_rule(
            f"/api/organization-roles/<role_id>/{path}",
            f"tenant_admin.add_org_role_{endpoint}",
            added,
            methods=["POST"],
        )
        app.add_url_rule(
            f"/api/organization-roles/<role_id>/{path}/<scope_id>",
            f"tenant_admin.remove_org_role_{endpoint}",
            removed,
            methods=["DELETE"],
        )

    relation_routes(
        "scopes",
        "role_scopes",
        "organizationScopeIds",
        "SELECT s.* FROM org_scopes s JOIN role_scopes rs ON rs.scope_id = s.id WHERE rs.role_id = ? ORDER BY s.name",
        lambda r: {"tenantId": "default", "id": r["id"], "name": r["name"], "description": r["description"]},
    )
    relation_routes(
        "resource-scopes",
        "role_resource_scopes",
        "scopeIds",
        "SELECT s.* FROM scopes s JOIN role_resource_scopes rs ON rs.scope_id = s.id WHERE rs.role_id = ? ORDER BY s.rowid",
        lambda r: {
            "tenantId": "default",
            "id": r["id"],
            "resourceId": r["resource_id"],
            "name": r["name"],
            "description": r["description"],
            "createdAt": r["created_at"],
        },
    )

    # -- global roles (role.ts, role.scope.ts) --------------------------------------------------------------------
    @app.get("/api/roles", endpoint="tenant_admin.list_roles")
    def list_roles() -> Response:
        """koaPagination() (always paginated), optional `type`; each role with its user and application counts."""
        h.require_m2m()
        page = h.page_params(True)
        wanted = request.args.get("type")
        rows = store.q("SELECT * FROM roles ORDER BY rowid")
        items = []
        for row in rows:
            if wanted and row["type"] != wanted:
                continue
            users = store.q(
                "SELECT u.id, u.avatar, u.name FROM users_roles ur JOIN users u ON u.id = ur.user_id "
                "WHERE ur.role_id = ? ORDER BY u.rowid",
                row["id"],
            )
            items.append(
                {
                    **store.global_role(row),
                    "usersCount": len(users),
                    "featuredUsers": [dict(u) for u in users[:3]],
                    "applicationsCount": 0,
                    "featuredApplications": [],
                }
            )
        return h.paginated(items, page)

    @app.post("/api/roles", endpoint="tenant_admin.create_role")
    def create_role() -> Response:
        """200 (the route sets no status) with the role; 422 role.name_in_use; `scopeIds` optional."""
        h.require_m2m()
        data = h.body()
        name = name_of(data)
        description = data.get("description")
        _guard(isinstance(description, str) and 1 <= len(description) <= 128, 'Error in key path "description".')
        role_type = data.get("type", "User")
        _guard(role_type in ("User", "MachineToMachine"), 'Error in key path "type".')
        scope_ids = _str_list(data, "scopeIds", required=False)
        if store.one("SELECT 1 FROM roles WHERE name = ?", name):
            raise LogtoError(422, "role.name_in_use", f"This role name {name} is already in use", data={"name": name})
        for scope_id in scope_ids:
            if not store.one("SELECT 1 FROM scopes WHERE id = ?", scope_id):
                raise not_exists("scopes", scope_id)  # validateRoleScopeAssignment
        role_id = new_id(21)
        store.db.execute("BEGIN")
        store.db.execute(
            "INSERT INTO roles VALUES (?,?,?,?,?)",
            (role_id, name, description, role_type, int(bool(data.get("isDefault")))),
        )
        for scope_id in scope_ids:
            store.db.execute("INSERT INTO roles_scopes VALUES (?,?)", (role_id, scope_id))
        store.db.execute("COMMIT")
        created = store.one("SELECT * FROM roles WHERE id = ?", role_id)
        assert created is not None
        return _json(store.global_role(created))

    @app.post("/api/roles/<role_id>/scopes", endpoint="tenant_admin.add_role_scopes")
    def add_role_scopes(role_id: str) -> Response:
        """201 with the role's scopes after the change (1.42; older versions answered 200); 422 role.scope_exists for
        one it holds (libraries/role-scope.ts validateRoleScopeAssignment); 404 unknown ids."""
        h.require_m2m()
        scope_ids = _str_list(h.body(), "scopeIds", min_items=1)
        if not store.one("SELECT 1 FROM roles WHERE id = ?", role_id):
            raise not_exists("roles", role_id)
        for scope_id in scope_ids:
            if store.one("SELECT 1 FROM roles_scopes WHERE role_id = ? AND scope_id = ?", role_id, scope_id):
                raise LogtoError(
                    422, "role.scope_exists", f"The scope id {scope_id} has already been added to this role."
                )
        for scope_id in scope_ids:
            if not store.one("SELECT 1 FROM scopes WHERE id = ?", scope_id):
                raise not_exists("scopes", scope_id)
        insert_all("INSERT INTO roles_scopes VALUES (?, ?)", [(role_id, s) for s in scope_ids], ignore_duplicates=False)
        rows = store.q(
            "SELECT s.* FROM scopes s JOIN roles_scopes rs ON rs.scope_id = s.id WHERE rs.role_id = ? ORDER BY s.rowid",
            role_id,
        )
        return _json(
            [
                {
                    "tenantId": "default",
                    "id": r["id"],
                    "resourceId": r["resource_id"],
                    "name": r["name"],
                    "description": r["description"],
                    "createdAt": r["created_at"],
                }
                for r in rows
            ],
            201,
        )

    @app.delete("/api/roles/<role_id>/scopes/<scope_id>", endpoint="tenant_admin.remove_role_scope")
    def remove_role_scope(role_id: str, scope_id: str) -> Response:
        h.require_m2m()
        gone = store.db.execute("DELETE FROM roles_scopes WHERE role_id = ? AND scope_id = ?", (role_id, scope_id))
        if gone.rowcount < 1:
            raise LogtoError(404, "entity.not_found", "Entity not found.")
        return Response(status=204)
