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

SCHEMA = """
PRAGMA foreign_keys = ON;
CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, username TEXT, name TEXT, primary_email TEXT, avatar TEXT,
  global_scopes TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS organizations (id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT,
  custom_data TEXT NOT NULL DEFAULT '{}', extra TEXT NOT NULL DEFAULT '{}', created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS org_scopes (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT);
CREATE TABLE IF NOT EXISTS resource_scopes (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS org_roles (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT,
  type TEXT NOT NULL DEFAULT 'User');
CREATE TABLE IF NOT EXISTS role_scopes (role_id TEXT REFERENCES org_roles(id) ON DELETE CASCADE,
  scope_id TEXT REFERENCES org_scopes(id) ON DELETE CASCADE, PRIMARY KEY (role_id, scope_id));
CREATE TABLE IF NOT EXISTS role_resource_scopes (role_id TEXT REFERENCES org_roles(id) ON DELETE CASCADE,
  scope_id TEXT REFERENCES resource_scopes(id) ON DELETE CASCADE, PRIMARY KEY (role_id, scope_id));
CREATE TABLE IF NOT EXISTS members (org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, PRIMARY KEY (org_id, user_id));
CREATE TABLE IF NOT EXISTS member_roles (org_id TEXT NOT NULL, user_id TEXT NOT NULL,
  role_id TEXT NOT NULL REFERENCES org_roles(id) ON DELETE CASCADE,
  PRIMARY KEY (org_id, user_id, role_id),
  FOREIGN KEY (org_id, user_id) REFERENCES members(org_id, user_id) ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS invitations (id TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES organizations(id)
  ON DELETE CASCADE, inviter_id TEXT REFERENCES users(id), invitee TEXT NOT NULL, status TEXT NOT NULL,
  accepted_user_id TEXT, expires_at INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS invitations_pending ON invitations(org_id, lower(invitee)) WHERE status = 'Pending';
CREATE TABLE IF NOT EXISTS invitation_roles (invitation_id TEXT REFERENCES invitations(id) ON DELETE CASCADE,
  role_id TEXT REFERENCES org_roles(id) ON DELETE CASCADE, PRIMARY KEY (invitation_id, role_id));
"""

PERMISSIONS = ["org:update", "org:delete", "member:read", "member:add", "member:remove", "role:assign", "member:invite"]
ROLES = {
    "admin": ("Full control of the organization", PERMISSIONS),
    "member": ("Can see who else is in the organization", ["member:read"]),
}
USERS = [
    # id, username, name, email, global scopes (API resource permissions outside any organization)
    ("alice", "alice", "Alice Admin", "alice@example.com", "org:create"),
    ("bob", "bob", "Bob Member", "bob@example.com", "org:create"),
    ("carol", "carol", "Carol Newcomer", "carol@example.com", "org:create"),
    ("dave", "dave", "Dave NoCreate", "dave@example.com", ""),
]
DEMO_ORG = "demo0org0001"
_ID_ALPHABET = string.ascii_lowercase + string.digits


def new_id(length: int = 12) -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def now_ms() -> int:
    return int(time.time() * 1000)


class Store:
    """One connection, one lock: requests are serialized, so concurrent writes are never lost."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.lock = threading.RLock()
        self.db.executescript(SCHEMA)
        if not self.one("SELECT 1 FROM org_roles"):
            self.seed()

    def q(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        return self.db.execute(sql, args).fetchall()

    def one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        return self.db.execute(sql, args).fetchone()

    def seed(self) -> None:
        with self.lock:
            self.db.execute("BEGIN")
            for name in PERMISSIONS:
                self.db.execute("INSERT INTO org_scopes VALUES (?,?,?)", (new_id(), name, None))
                self.db.execute("INSERT INTO resource_scopes VALUES (?,?)", (new_id(), name))
            for role_name, (description, perms) in ROLES.items():
                role_id = new_id()
                self.db.execute("INSERT INTO org_roles VALUES (?,?,?,?)", (role_id, role_name, description, "User"))
                for perm in perms:
                    self.db.execute(
                        "INSERT INTO role_scopes SELECT ?, id FROM org_scopes WHERE name = ?", (role_id, perm)
                    )
                    self.db.execute(
                        "INSERT INTO role_resource_scopes SELECT ?, id FROM resource_scopes WHERE name = ?",
                        (role_id, perm),
                    )
            self.db.execute(
                "INSERT INTO org_roles VALUES (?,?,?,?)", (new_id(), "automation", "For M2M apps", "MachineToMachine")
            )
            for user in USERS:
                user_id, username, name, email, global_scopes = user
                self.db.execute(
                    "INSERT INTO users VALUES (?,?,?,?,?,?,?)",
                    (user_id, username, name, email, None, global_scopes, now_ms()),
                )
            self.db.execute(
                "INSERT INTO organizations VALUES (?,?,?,?,?,?)",
                (DEMO_ORG, "Acme (demo)", "Seeded demo organization", "{}", "{}", now_ms()),
            )
            for user_id, role in (("alice", "admin"), ("bob", "member")):
                self.db.execute("INSERT INTO members VALUES (?,?)", (DEMO_ORG, user_id))
                self.db.execute(
                    "INSERT INTO member_roles SELECT ?, ?, id FROM org_roles WHERE name = ?", (DEMO_ORG, user_id, role)
                )
            self.db.execute("COMMIT")

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
        scopes = self.q(
            "SELECT s.id, s.name FROM role_scopes rs JOIN org_scopes s ON s.id = rs.scope_id "
            "WHERE rs.role_id = ? ORDER BY s.name",
            row["id"],
        )
        resource_scopes = self.q(
            "SELECT s.id, s.name FROM role_resource_scopes rs JOIN resource_scopes s "
            "ON s.id = rs.scope_id WHERE rs.role_id = ? ORDER BY s.name",
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
                {"id": s["id"], "name": s["name"], "resource": {"id": "api", "name": "Organization API"}}
                for s in resource_scopes
            ],
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

    def scopes_of(self, org_id: str, user_id: str, table: str) -> set[str]:
        join = (
            "role_scopes rs JOIN org_scopes s" if table == "org" else "role_resource_scopes rs JOIN resource_scopes s"
        )
        rows = self.q(
            f"SELECT DISTINCT s.name FROM member_roles m JOIN {join} ON s.id = rs.scope_id "
            "AND rs.role_id = m.role_id WHERE m.org_id = ? AND m.user_id = ?",
            org_id,
            user_id,
        )
        return {r["name"] for r in rows}
