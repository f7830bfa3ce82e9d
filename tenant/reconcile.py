"""Compare a tenant with the description and, when asked, make it match: one code path for the plan, APPLY and
CHECK, so the plan lists exactly the writes APPLY sends.

Order (a rerun always finishes): the API resource, its permissions, the organization permissions, then each role
(created bare, then given its permissions, then relieved of the ones it should not hold). Every step first reads what
exists, so a run that stopped half-way leaves only things the next run finds and completes; nothing is created twice
(Logto refuses duplicate names) and nothing outside the description is deleted or rewritten.

Logto's routes used here: resource.ts, resource.scope.ts, organization-scope/index.ts, organization-role/index.ts
(+ utils/SchemaRouter.ts relation routes), role.ts, role.scope.ts (packages/core/src/routes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from tenant.admin_api import AdminApi
from tenant.applications import AppsSpec, reconcile_service_app, reconcile_spa, write_secret
from tenant.description import Desired


def _id(value: str) -> str:
    return quote(value, safe="")


@dataclass
class Outcome:
    changes: list[str] = field(default_factory=list)  # one line per write (sent, or that would be sent)
    dangers: list[str] = field(default_factory=list)  # configurations that give or break access silently
    manual: list[str] = field(default_factory=list)  # differences APPLY cannot fix (a role's type)
    spa_id: str | None = None


@dataclass
class _Role:
    id: str
    type: str
    organization: dict[str, str]  # organization permission name -> id
    api: dict[str, str]  # permission name of API_RESOURCE -> scope id


class Reconciler:
    def __init__(
        self,
        api: AdminApi,
        desired: Desired,
        *,
        apply: bool,
        apps: AppsSpec | None = None,
        secrets_client: Any = None,
    ):
        self.api, self.desired, self.apply = api, desired, apply
        self.apps, self.secrets_client = apps, secrets_client
        self.outcome = Outcome()

    def write(self, text: str, method: str, path: str, body: Any = None) -> Any:
        self.outcome.changes.append(text)
        return self.api.write(method, path, body) if self.apply else None

    def run(self) -> Outcome:
        d = self.desired
        resource = next((r for r in self.api.all("/resources") if r.get("indicator") == d.indicator), None)
        if resource is None:
            created = self.write(
                f'create API resource "{d.api_name}" ({d.indicator})',
                "POST",
                "/resources",
                {"name": d.api_name, "indicator": d.indicator},
            )
            resource_id = created["id"] if created else None
        else:
            resource_id = resource["id"]
        api_scopes = self._api_scopes(resource_id)
        organization_scopes = self._organization_scopes()
        roles = self._organization_roles(resource_id)
        self._dangers(roles)
        for name, spec in d.organization_roles.items():
            self._organization_role(name, spec, roles.get(name), api_scopes, organization_scopes)
        self._global_roles(resource_id, api_scopes)
        if self.apps and self.apps.spa:
            self.outcome.spa_id = reconcile_spa(self, self.apps.spa)
        if self.apps and self.apps.service_app and self.apps.secret_id:
            app_id = reconcile_service_app(self, self.apps.service_app)
            write_secret(self, app_id, self.apps.service_app, self.apps.secret_id, self.secrets_client)
        return self.outcome

    # -- permissions ---------------------------------------------------------------------------------------------------
    def _api_scopes(self, resource_id: str | None) -> dict[str, str]:
        scopes = (
            {s["name"]: s["id"] for s in self.api.all(f"/resources/{_id(resource_id)}/scopes")} if resource_id else {}
        )
        for name, text in self.desired.permissions.items():
            if name not in scopes:
                made = self.write(
                    f"create permission {name} of {self.desired.indicator}",
                    "POST",
                    f"/resources/{_id(resource_id or '')}/scopes",
                    {"name": name, "description": text},
                )
                scopes[name] = made["id"] if made else f"(new {name})"
        return scopes

    def _organization_scopes(self) -> dict[str, str]:
        scopes = {s["name"]: s["id"] for s in self.api.all("/organization-scopes")}
        for name, text in self.desired.permissions.items():
            if name not in scopes:
                made = self.write(
                    f"create organization permission {name}",
                    "POST",
                    "/organization-scopes",
                    {"name": name, "description": text},
                )
                scopes[name] = made["id"] if made else f"(new {name})"
        return scopes

    # -- organization roles --------------------------------------------------------------------------------------------
    def _organization_roles(self, resource_id: str | None) -> dict[str, _Role]:
        """Every organization role with its permissions in both namespaces (GET /organization-roles carries them:
        queries/organization/index.ts #findWithScopesSql); API permissions of other resources are not ours."""
        return {
            r["name"]: _Role(
                r["id"],
                r.get("type", "User"),
                {s["name"]: s["id"] for s in r.get("scopes", [])},
                {s["name"]: s["id"] for s in r.get("resourceScopes", []) if s["resource"]["id"] == resource_id},
            )
            for r in self.api.all("/organization-roles")
        }

    def _dangers(self, roles: dict[str, _Role]) -> None:
        d, ours = self.desired, set(self.desired.permissions)
        creator = roles.get(d.creator_role)
        if creator is not None and creator.type != "User":
            self.outcome.dangers.append(
                f"CREATOR_ROLE {d.creator_role!r} is a {creator.type} role: Logto gives users only User roles, so "
                "every POST /organizations would fail and be rolled back"
            )
        for name, role in sorted(roles.items()):
            managed = name in d.organization_roles
            if d.create_permission in role.api:
                self.outcome.dangers.append(
                    f"organization role {name!r} carries {d.create_permission} as an API permission of {d.indicator}: "
                    f"Logto puts it into every global token of its members, who can then create organizations"
                    + (" (APPLY removes it)" if managed else "")
                )
            lopsided = sorted(p for p in ours - {d.create_permission} if (p in role.organization) != (p in role.api))
            for permission in lopsided:
                has, lacks = ("organization", "API") if permission in role.organization else ("API", "organization")
                self.outcome.dangers.append(
                    f"organization role {name!r} has {permission} as {has} permission but not as {lacks} permission: "
                    "tokens of one kind lack it and granting the role fails with privilege_escalation"
                    + (" (APPLY fixes it)" if managed else "")
                )

    def _organization_role(
        self,
        name: str,
        spec: Any,
        role: _Role | None,
        api_scopes: dict[str, str],
        organization_scopes: dict[str, str],
    ) -> None:
        if role is None:
            made = self.write(
                f"create organization role {name} ({spec.type})",
                "POST",
                "/organization-roles",
                {"name": name, "description": spec.description or None, "type": spec.type},
            )
            role = _Role(made["id"] if made else f"(new {name})", spec.type, {}, {})
            if name == self.desired.creator_role:
                self.outcome.changes[-1] += " = CREATOR_ROLE"
        elif role.type != spec.type:
            self.outcome.manual.append(
                f"organization role {name} is {role.type}, the description says {spec.type}: Logto cannot change a "
                "role's type once it is held; fix it by hand in Logto Console"
            )
        path = f"/organization-roles/{_id(role.id)}"
        ours = set(self.desired.permissions)
        add = sorted(spec.organization_permissions - set(role.organization))
        if add:
            self.write(
                f"give organization role {name} organization permissions: {', '.join(add)}",
                "POST",
                f"{path}/scopes",
                {"organizationScopeIds": [organization_scopes[p] for p in add]},
            )
        add = sorted(spec.api_permissions - set(role.api))
        if add:
            self.write(
                f"give organization role {name} API permissions: {', '.join(add)}",
                "POST",
                f"{path}/resource-scopes",
                {"scopeIds": [api_scopes[p] for p in add]},
            )
        for permission in sorted((set(role.organization) & ours) - spec.organization_permissions):
            self.write(
                f"take organization permission {permission} from organization role {name}",
                "DELETE",
                f"{path}/scopes/{_id(role.organization[permission])}",
            )
        for permission in sorted((set(role.api) & ours) - spec.api_permissions):
            self.write(
                f"take API permission {permission} from organization role {name}",
                "DELETE",
                f"{path}/resource-scopes/{_id(role.api[permission])}",
            )

    # -- global roles --------------------------------------------------------------------------------------------------
    def _default_roles_granting_create(self, roles: list[dict[str, Any]], resource_id: str | None) -> None:
        """A default role (role.ts `isDefault`) is given to every new user: with org:create, anyone who signs up can
        create organizations. Only default roles are read, so a tenant with hundreds of roles costs a few calls."""
        for role in roles:
            if not role.get("isDefault") or role.get("type", "User") != "User":
                continue
            scopes = self.api.all(f"/roles/{_id(role['id'])}/scopes")
            if any(s["name"] == self.desired.create_permission and s.get("resourceId") == resource_id for s in scopes):
                self.outcome.dangers.append(
                    f"global role {role['name']!r} is a default role carrying {self.desired.create_permission}: "
                    "every user who signs up can create organizations"
                )

    def _global_roles(self, resource_id: str | None, api_scopes: dict[str, str]) -> None:
        roles = list(self.api.all("/roles"))
        self._default_roles_granting_create(roles, resource_id)
        existing = {r["name"]: r for r in roles}
        ours = set(self.desired.permissions)
        for name, spec in self.desired.global_roles.items():
            role = existing.get(name)
            held: dict[str, str] = {}
            if role is None:
                made = self.write(
                    f"create global role {name}",
                    "POST",
                    "/roles",
                    {"name": name, "description": spec.description, "type": "User"},
                )
                role_id = made["id"] if made else f"(new {name})"
            else:
                role_id = role["id"]
                if role.get("type", "User") != "User":
                    self.outcome.manual.append(
                        f"global role {name} is {role['type']}: users cannot hold it; rename it or fix it in Logto Console"
                    )
                held = {
                    s["name"]: s["id"]
                    for s in self.api.all(f"/roles/{_id(role_id)}/scopes")
                    if s.get("resourceId") == resource_id
                }
            add = sorted(spec.api_permissions - set(held))
            if add:
                self.write(
                    f"give global role {name} API permissions: {', '.join(add)}",
                    "POST",
                    f"/roles/{_id(role_id)}/scopes",
                    {"scopeIds": [api_scopes[p] for p in add]},
                )
            for permission in sorted((set(held) & ours) - spec.api_permissions):
                self.write(
                    f"take API permission {permission} from global role {name}",
                    "DELETE",
                    f"/roles/{_id(role_id)}/scopes/{_id(held[permission])}",
                )
