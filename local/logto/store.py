"""SQLite state of the Logto stand-in, with the constraints that shape Logto's answers (cascades, unique names)."""

from __future__ import annotations

import json
import secrets
import sqlite3
import string
import threading
import time
from pathlib import Path
from typing import Any

from local.logto.credentials import SPA_APP_ID

SCHEMA_VERSION = 2  # bump when SCHEMA changes: an older local database is discarded and re-seeded
SCHEMA = """
PRAGMA foreign_keys = ON;
CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, username TEXT, name TEXT, primary_email TEXT, avatar TEXT,
  created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS organizations (id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT,
  custom_data TEXT NOT NULL DEFAULT '{}', extra TEXT NOT NULL DEFAULT '{}', created_at INTEGER NOT NULL);
-- API resources and their scopes (Logto: tables/resources.sql, tables/scopes.sql; scope names are unique per resource only)
CREATE TABLE IF NOT EXISTS resources (id TEXT PRIMARY KEY, name TEXT NOT NULL, indicator TEXT NOT NULL UNIQUE,
  is_default INTEGER NOT NULL DEFAULT 0, access_token_ttl INTEGER NOT NULL DEFAULT 3600);
CREATE TABLE IF NOT EXISTS scopes (id TEXT PRIMARY KEY, resource_id TEXT NOT NULL REFERENCES resources(id)
  ON DELETE CASCADE, name TEXT NOT NULL, description TEXT, created_at INTEGER NOT NULL, UNIQUE (resource_id, name));
-- global (user and machine-to-machine) roles (Logto: tables/roles.sql, roles_scopes.sql, users_roles.sql)
CREATE TABLE IF NOT EXISTS roles (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT NOT NULL,
  type TEXT NOT NULL DEFAULT 'User', is_default INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS roles_scopes (role_id TEXT REFERENCES roles(id) ON DELETE CASCADE,
  scope_id TEXT REFERENCES scopes(id) ON DELETE CASCADE, PRIMARY KEY (role_id, scope_id));
CREATE TABLE IF NOT EXISTS users_roles (user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
  role_id TEXT REFERENCES roles(id) ON DELETE CASCADE, PRIMARY KEY (user_id, role_id));
-- the organization template
CREATE TABLE IF NOT EXISTS org_scopes (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT);
CREATE TABLE IF NOT EXISTS org_roles (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT,
  type TEXT NOT NULL DEFAULT 'User');
CREATE TABLE IF NOT EXISTS role_scopes (role_id TEXT REFERENCES org_roles(id) ON DELETE CASCADE,
  scope_id TEXT REFERENCES org_scopes(id) ON DELETE CASCADE, PRIMARY KEY (role_id, scope_id));
CREATE TABLE IF NOT EXISTS role_resource_scopes (role_id TEXT REFERENCES org_roles(id) ON DELETE CASCADE,
  scope_id TEXT REFERENCES scopes(id) ON DELETE CASCADE, PRIMARY KEY (role_id, scope_id));
-- users in organizations
CREATE TABLE IF NOT EXISTS members (org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, PRIMARY KEY (org_id, user_id));
CREATE TABLE IF NOT EXISTS member_roles (org_id TEXT NOT NULL, user_id TEXT NOT NULL,
  role_id TEXT NOT NULL REFERENCES org_roles(id) ON DELETE CASCADE,
  PRIMARY KEY (org_id, user_id, role_id),
  FOREIGN KEY (org_id, user_id) REFERENCES members(org_id, user_id) ON DELETE CASCADE);
-- applications in organizations (Logto: organization_application_relations, organization_role_application_relations)
CREATE TABLE IF NOT EXISTS applications (id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT,
  type TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS org_applications (org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  app_id TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE, PRIMARY KEY (org_id, app_id));
CREATE TABLE IF NOT EXISTS org_application_roles (org_id TEXT NOT NULL, app_id TEXT NOT NULL,
  role_id TEXT NOT NULL REFERENCES org_roles(id) ON DELETE CASCADE,
  PRIMARY KEY (org_id, app_id, role_id),
  FOREIGN KEY (org_id, app_id) REFERENCES org_applications(org_id, app_id) ON DELETE CASCADE);
-- invitations; one pending invitation per (invitee, organization), compared case-sensitively as Logto's index does
CREATE TABLE IF NOT EXISTS invitations (id TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES organizations(id)
  ON DELETE CASCADE, inviter_id TEXT REFERENCES users(id), invitee TEXT NOT NULL, status TEXT NOT NULL,
  accepted_user_id TEXT, expires_at INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS invitations_pending ON invitations(org_id, invitee) WHERE status = 'Pending';
CREATE TABLE IF NOT EXISTS invitation_roles (invitation_id TEXT REFERENCES invitations(id) ON DELETE CASCADE,
  role_id TEXT REFERENCES org_roles(id) ON DELETE CASCADE, PRIMARY KEY (invitation_id, role_id));
"""

PERMISSIONS = [
    "org:update",
    "org:delete",
    "member:read",
    "member:add",
    "member:remove",
    "role:assign",
    "member:invite",
    "audit:read",  # the audit trail (GET /organizations/{id}/audit): the admin role holds it in both namespaces
]
CREATE_PERMISSION = "org:create"
API_RESOURCE_NAME = "Organization API"
OTHER_RESOURCE = ("Other API", "https://other.example.com/api")  # same scope names, another resource: a trap
MANAGEMENT_RESOURCE_ID = "management-api"  # the id Logto OSS gives its own Management API resource
# organization roles: description, type, organization permissions, API permissions (API_RESOURCE), other-resource ones
ORG_ROLES: dict[str, tuple[str, str, list[str], list[str], list[str]]] = {
    # The seed's pattern: an organization token with org:create lets an admin create organizations, so the creator
    # role carries org:create both as an organization permission and as an API permission.
    "admin": (
        "Full control of the organization",
        "User",
        [*PERMISSIONS, CREATE_PERMISSION],
        [*PERMISSIONS, CREATE_PERMISSION],
        [],
    ),
    # member:read, plus org:create of ANOTHER resource: only a service that ignores the resource sees it as ours.
    "member": (
        "Can see who else is in the organization",
        "User",
        ["member:read"],
        ["member:read"],
        [CREATE_PERMISSION],
    ),
    # Logto gives applications only MachineToMachine organization roles (check constraint
    # organization_role_application_relations__role_type).
    "automation": ("For M2M apps", "MachineToMachine", ["member:read"], ["member:read"], []),
}
# global roles: description, API_RESOURCE scopes, other-resource scopes
GLOBAL_ROLES: dict[str, tuple[str, list[str], list[str]]] = {
    "creator": ("May create organizations", [CREATE_PERMISSION], []),
    "partner": ("org:create of another API (not this service's)", [], [CREATE_PERMISSION]),
}
USERS = [
    # id, username, name, primary e-mail (None: none), global roles
    ("alice", "alice", "Alice Admin", "alice@example.com", ["creator"]),
    ("bob", "bob", "Bob Member", "bob@example.com", ["creator"]),
    ("carol", "carol", "Carol Newcomer", "carol@example.com", ["creator"]),
    ("dave", "dave", "Dave NoCreate", "dave@example.com", ["partner"]),
    ("erin", "erin", "Erin NoEmail", None, []),
]
DEMO_ORG = "demo0org0001"
DEMO_APP = "demo-m2m-app"
DEMO_INVITATION = "demo0invite1"
_ID_ALPHABET = string.ascii_lowercase + string.digits


def new_id(length: int = 12) -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def now_ms() -> int:
    return int(time.time() * 1000)


class Store:
    """One connection, one lock: requests are serialized, so concurrent writes are never lost."""

    def __init__(self, path: Path, *, api_resource: str, management_resource: str):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.api_resource, self.management_resource = api_resource, management_resource
        self.db = self._open(path)
        self.lock = threading.RLock()
        self.db.executescript(SCHEMA)
        self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        if not self.one("SELECT 1 FROM org_roles"):
            self.seed()
        # The service's API resource follows the configured indicator (API_RESOURCE may change between runs).
        self.db.execute("UPDATE resources SET indicator = ? WHERE name = ?", (api_resource, API_RESOURCE_NAME))

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        version = db.execute("PRAGMA user_version").fetchone()[0]
        has_tables = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'").fetchone()
        if has_tables and version != SCHEMA_VERSION:
            db.close()  # local state from an older stand-in: start again from the seed
            path.unlink()
            db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        db.row_factory = sqlite3.Row
        return db

    def q(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        return self.db.execute(sql, args).fetchall()

    def one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        return self.db.execute(sql, args).fetchone()

    def reset(self) -> None:
        """Every row gone, then the seed again (the schema and the signing keys, kept elsewhere, stay)."""
        with self.lock:
            tables = [r[0] for r in self.q("SELECT name FROM sqlite_master WHERE type = 'table'")]
            self.db.execute("BEGIN")
            try:
                self.db.execute("PRAGMA defer_foreign_keys = ON")  # checked at COMMIT, when every table is empty
                for table in tables:
                    self.db.execute(f'DELETE FROM "{table}"')  # names from sqlite_master, not from a request
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.seed()
            self.db.execute("UPDATE resources SET indicator = ? WHERE name = ?", (self.api_resource, API_RESOURCE_NAME))

    def seed(self) -> None:
        x = self.db.execute
        with self.lock:
            x("BEGIN")
            api_id, other_id = new_id(), new_id()
            x(
                "INSERT INTO resources VALUES (?,?,?,?,?)",
                (MANAGEMENT_RESOURCE_ID, "Logto Management API", self.management_resource, 0, 3600),
            )
            x("INSERT INTO resources VALUES (?,?,?,?,?)", (api_id, API_RESOURCE_NAME, self.api_resource, 0, 3600))
            x("INSERT INTO resources VALUES (?,?,?,?,?)", (other_id, *OTHER_RESOURCE, 0, 3600))
            x(
                "INSERT INTO scopes VALUES (?,?,?,?,?)",
                (new_id(), MANAGEMENT_RESOURCE_ID, "all", "Default scope for Management API", now_ms()),
            )
            for name in [*PERMISSIONS, CREATE_PERMISSION]:
                x("INSERT INTO org_scopes VALUES (?,?,?)", (new_id(), name, None))
                for resource_id in (api_id, other_id):
                    x("INSERT INTO scopes VALUES (?,?,?,?,?)", (new_id(), resource_id, name, None, now_ms()))
            for role_name, (description, role_type, perms, api_perms, other_perms) in ORG_ROLES.items():
                role_id = new_id()
                x("INSERT INTO org_roles VALUES (?,?,?,?)", (role_id, role_name, description, role_type))
                for perm in perms:
                    x("INSERT INTO role_scopes SELECT ?, id FROM org_scopes WHERE name = ?", (role_id, perm))
                for resource_id, names in ((api_id, api_perms), (other_id, other_perms)):
                    for perm in names:
                        x(
                            "INSERT INTO role_resource_scopes SELECT ?, id FROM scopes WHERE resource_id = ? "
                            "AND name = ?",
                            (role_id, resource_id, perm),
                        )
            for role_name, (description, api_perms, other_perms) in GLOBAL_ROLES.items():
                role_id = new_id()
                x("INSERT INTO roles VALUES (?,?,?,?,?)", (role_id, role_name, description, "User", 0))
                for resource_id, names in ((api_id, api_perms), (other_id, other_perms)):
                    for perm in names:
                        x(
                            "INSERT INTO roles_scopes SELECT ?, id FROM scopes WHERE resource_id = ? AND name = ?",
                            (role_id, resource_id, perm),
                        )
            for user_id, username, name, email, global_roles in USERS:
                x("INSERT INTO users VALUES (?,?,?,?,?,?)", (user_id, username, name, email, None, now_ms()))
                for role_name in global_roles:
                    x("INSERT INTO users_roles SELECT ?, id FROM roles WHERE name = ?", (user_id, role_name))
            x(
                "INSERT INTO organizations VALUES (?,?,?,?,?,?)",
                (DEMO_ORG, "Acme (demo)", "Seeded demo organization", "{}", "{}", now_ms()),
            )
            for user_id, role in (("alice", "admin"), ("bob", "member")):
                x("INSERT INTO members VALUES (?,?)", (DEMO_ORG, user_id))
                x("INSERT INTO member_roles SELECT ?, ?, id FROM org_roles WHERE name = ?", (DEMO_ORG, user_id, role))
            x(
                "INSERT INTO applications VALUES (?,?,?,?,?)",
                (DEMO_APP, "Demo M2M app", "A machine caller in the demo organization", "MachineToMachine", now_ms()),
            )
            x(
                "INSERT INTO applications VALUES (?,?,?,?,?)",
                (SPA_APP_ID, "Demo console", "The demo console: signs users in with @logto/browser", "SPA", now_ms()),
            )
            x("INSERT INTO org_applications VALUES (?,?)", (DEMO_ORG, DEMO_APP))
            x(
                "INSERT INTO org_application_roles SELECT ?, ?, id FROM org_roles WHERE name = 'automation'",
                (DEMO_ORG, DEMO_APP),
            )
            now = now_ms()
            x(
                "INSERT INTO invitations VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    DEMO_INVITATION,
                    DEMO_ORG,
                    "alice",
                    "dave@example.com",
                    "Pending",
                    None,
                    now + 30 * 24 * 3600 * 1000,
                    now,
                    now,
                ),
            )
            x("INSERT INTO invitation_roles SELECT ?, id FROM org_roles WHERE name = 'member'", (DEMO_INVITATION,))
            x("COMMIT")

    # -- views shaped like Logto's entities ----------------------------------------------------------------------
    def organization(self, row: sqlite3.Row) -> dict[str, Any]:
        extra = json.loads(row["extra"])
        return {
            "tenantId": "default",
            "id": row["id"],
            "name": row["name"],
            "description": row["description"],
            "customData": json.loads(row["custom_data"]),
            "isMfaRequired": extra.get("isMfaRequired", False),
            "color": extra.get("color", {}),
            "branding": extra.get("branding", {}),
            "customCss": extra.get("customCss"),
            "createdAt": row["created_at"],
        }

    def role_refs(self, org_id: str, user_id: str) -> list[dict[str, str]]:
        return [
            {"id": r["id"], "name": r["name"]}
            for r in self.q(
                "SELECT r.id, r.name FROM member_roles m JOIN org_roles r ON r.id = m.role_id "
                "WHERE m.org_id = ? AND m.user_id = ? ORDER BY r.name",
                org_id,
                user_id,
            )
        ]

    def app_role_refs(self, org_id: str, app_id: str) -> list[dict[str, str]]:
        return [
            {"id": r["id"], "name": r["name"]}
            for r in self.q(
                "SELECT r.id, r.name FROM org_application_roles a JOIN org_roles r ON r.id = a.role_id "
                "WHERE a.org_id = ? AND a.app_id = ? ORDER BY r.name",
                org_id,
                app_id,
            )
        ]

    @staticmethod
    def org_role_entity(row: sqlite3.Row) -> dict[str, Any]:
        """An organization role without its scopes (OrganizationRoles.guard)."""
        return {
            "tenantId": "default",
            "id": row["id"],
            "name": row["name"],
            "description": row["description"],
            "type": row["type"],
        }

    def user(self, row: sqlite3.Row, org_id: str | None = None) -> dict[str, Any]:
        result = {
            "id": row["id"],
            "username": row["username"],
            "primaryEmail": row["primary_email"],
            "primaryPhone": None,
            "name": row["name"],
            "avatar": row["avatar"],
            "customData": {},
            "identities": {},
            "lastSignInAt": None,
            "createdAt": row["created_at"],
            "updatedAt": row["created_at"],
            "profile": {},
            "applicationId": None,
            "isSuspended": False,
        }
        if org_id:
            result["organizationRoles"] = self.role_refs(org_id, row["id"])
        return result

    def role(self, row: sqlite3.Row) -> dict[str, Any]:
        """An organization role with its scopes, built as Logto's organization-role list query builds it
        (queries/organization/index.ts #findWithScopesSql: `resourceScopes` items carry `resource: {id, name}`; both
        arrays come out of `json_agg(distinct ...)`, i.e. ordered by scope id)."""
        scopes = self.q(
            "SELECT s.id, s.name FROM role_scopes rs JOIN org_scopes s ON s.id = rs.scope_id "
            "WHERE rs.role_id = ? ORDER BY s.id",
            row["id"],
        )
        resource_scopes = self.q(
            "SELECT s.id, s.name, r.id AS resource_id, r.name AS resource_name FROM role_resource_scopes rs "
            "JOIN scopes s ON s.id = rs.scope_id JOIN resources r ON r.id = s.resource_id WHERE rs.role_id = ? "
            "ORDER BY s.id",
            row["id"],
        )
        return {
            "tenantId": "default",
            "id": row["id"],
            "name": row["name"],
            "description": row["description"],
            "type": row["type"],
            "scopes": [{"id": s["id"], "name": s["name"]} for s in scopes],
            "resourceScopes": [
                {"id": s["id"], "name": s["name"], "resource": {"id": s["resource_id"], "name": s["resource_name"]}}
                for s in resource_scopes
            ],
        }

    def global_role(self, row: sqlite3.Row) -> dict[str, Any]:
        return {
            "tenantId": "default",
            "id": row["id"],
            "name": row["name"],
            "description": row["description"],
            "type": row["type"],
            "isDefault": bool(row["is_default"]),
        }

    def resource(self, row: sqlite3.Row) -> dict[str, Any]:
        return {
            "tenantId": "default",
            "id": row["id"],
            "name": row["name"],
            "indicator": row["indicator"],
            "isDefault": bool(row["is_default"]),
            "accessTokenTtl": row["access_token_ttl"],
        }

    def scope_with_resource(self, row: sqlite3.Row) -> dict[str, Any]:
        """A scope with its resource attached, as libraries/scope.ts attachResourceToScopes does."""
        resource = self.one("SELECT * FROM resources WHERE id = ?", row["resource_id"])
        assert resource is not None  # scopes.resource_id references resources
        return {
            "tenantId": "default",
            "id": row["id"],
            "resourceId": row["resource_id"],
            "name": row["name"],
            "description": row["description"],
            "createdAt": row["created_at"],
            "resource": self.resource(resource),
        }

    def invitation(self, row: sqlite3.Row) -> dict[str, Any]:
        status = row["status"]
        if status == "Pending" and row["expires_at"] <= now_ms():
            status = "Expired"  # computed, as Logto does
        roles = self.q(
            "SELECT r.id, r.name FROM invitation_roles i JOIN org_roles r ON r.id = i.role_id "
            "WHERE i.invitation_id = ? ORDER BY r.name",
            row["id"],
        )
        return {
            "tenantId": "default",
            "id": row["id"],
            "inviterId": row["inviter_id"],
            "invitee": row["invitee"],
            "acceptedUserId": row["accepted_user_id"],
            "organizationId": row["org_id"],
            "status": status,
            "createdAt": row["created_at"],
            "updatedAt": row["updated_at"],
            "expiresAt": row["expires_at"],
            "organizationRoles": [{"id": r["id"], "name": r["name"]} for r in roles],
        }

    # -- what Logto puts into tokens (oidc/resource.ts findResourceScopes) -----------------------------------------
    def global_api_scopes(self, user_id: str) -> set[str]:
        """The user's global roles' scopes for the service's API resource (libraries/user.ts
        findUserScopesForResourceIndicator, the `rolesScopes` part)."""
        rows = self.q(
            "SELECT DISTINCT s.name FROM users_roles ur JOIN roles_scopes rs ON rs.role_id = ur.role_id "
            "JOIN scopes s ON s.id = rs.scope_id JOIN resources r ON r.id = s.resource_id "
            "WHERE ur.user_id = ? AND r.indicator = ?",
            user_id,
            self.api_resource,
        )
        return {r["name"] for r in rows}

    def org_role_api_scopes(self, user_id: str, org_id: str | None) -> set[str]:
        """API-resource scopes of the user's organization roles: in one organization, or (None) in every one
        (queries/organization/user-role-relations.ts getUserResourceScopes)."""
        sql = (
            "SELECT DISTINCT s.name FROM member_roles m JOIN role_resource_scopes rs ON rs.role_id = m.role_id "
            "JOIN scopes s ON s.id = rs.scope_id JOIN resources r ON r.id = s.resource_id "
            "WHERE m.user_id = ? AND r.indicator = ?"
        )
        args: list[Any] = [user_id, self.api_resource]
        if org_id is not None:
            sql += " AND m.org_id = ?"
            args.append(org_id)
        return {r["name"] for r in self.q(sql, *args)}

    def org_scopes_of(self, org_id: str, user_id: str) -> set[str]:
        """Organization permissions of the user's roles in the organization (an organization token's scope)."""
        rows = self.q(
            "SELECT DISTINCT s.name FROM member_roles m JOIN role_scopes rs ON rs.role_id = m.role_id "
            "JOIN org_scopes s ON s.id = rs.scope_id WHERE m.org_id = ? AND m.user_id = ?",
            org_id,
            user_id,
        )
        return {r["name"] for r in rows}

    def app_scopes_of(self, org_id: str, app_id: str, *, api: bool) -> set[str]:
        """An application's organization-role scopes in the organization: organization permissions, or (api) the
        API-resource ones (queries/organization/application-role-relations.ts getApplicationScopes /
        getApplicationResourceScopes)."""
        if api:
            sql = (
                "SELECT DISTINCT s.name FROM org_application_roles a JOIN role_resource_scopes rs "
                "ON rs.role_id = a.role_id JOIN scopes s ON s.id = rs.scope_id JOIN resources r "
                "ON r.id = s.resource_id WHERE a.org_id = ? AND a.app_id = ? AND r.indicator = ?"
            )
            rows = self.q(sql, org_id, app_id, self.api_resource)
        else:
            sql = (
                "SELECT DISTINCT s.name FROM org_application_roles a JOIN role_scopes rs ON rs.role_id = a.role_id "
                "JOIN org_scopes s ON s.id = rs.scope_id WHERE a.org_id = ? AND a.app_id = ?"
            )
            rows = self.q(sql, org_id, app_id)
        return {r["name"] for r in rows}
