"""The optional applications: an SPA (SPA_REDIRECT_URIS, SPA_POST_SIGN_OUT_URIS, SPA_CORS_ORIGINS) whose
`@logto/react` config is printed, and the service's own M2M app with Management API access, whose credentials go
straight into the stack's Secrets Manager secret (SECRET_ID), never through a shell.

Applications are found by name and type (Logto does not require unique names, so the first match is ours); URIs are
only ever added, never removed (routes/applications/application.ts, application-role.ts, application-secret.ts)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from tenant.admin_api import AdminApi, SetupError

MANAGEMENT_ROLE = "Logto Management API access"  # the machine role Logto creates with every tenant


@dataclass(frozen=True)
class SpaSpec:
    name: str
    redirect_uris: tuple[str, ...]
    post_sign_out_uris: tuple[str, ...]
    cors_origins: tuple[str, ...]


@dataclass(frozen=True)
class AppsSpec:
    spa: SpaSpec | None
    service_app: str | None  # the service's M2M app, by name (with SECRET_ID)
    secret_id: str | None


def _uris(env: Mapping[str, str], name: str, *, origin: bool = False) -> tuple[str, ...]:
    values = tuple(env.get(name, "").split())
    for value in values:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
            raise SetupError(f"{name}: {value!r} is not an absolute http(s) URI")
        if origin and (parts.path not in ("", "/") or parts.query):
            raise SetupError(f"{name}: {value!r} is not an origin (scheme://host[:port])")
    return values


def apps_from(env: Mapping[str, str]) -> AppsSpec:
    redirects = _uris(env, "SPA_REDIRECT_URIS")
    spa = None
    if redirects:
        spa = SpaSpec(
            env.get("SPA_NAME", "").strip() or "Organization console",
            redirects,
            _uris(env, "SPA_POST_SIGN_OUT_URIS"),
            tuple(o.rstrip("/") for o in _uris(env, "SPA_CORS_ORIGINS", origin=True)),
        )
    elif env.get("SPA_POST_SIGN_OUT_URIS", "").strip() or env.get("SPA_CORS_ORIGINS", "").strip():
        raise SetupError(
            "SPA_POST_SIGN_OUT_URIS and SPA_CORS_ORIGINS need SPA_REDIRECT_URIS (the SPA's sign-in callback)"
        )
    secret_id = env.get("SECRET_ID", "").strip() or None
    service = (env.get("SERVICE_APP_NAME", "").strip() or "Organization API service") if secret_id else None
    return AppsSpec(spa, service, secret_id)


def _find(api: AdminApi, name: str, app_type: str) -> dict[str, Any] | None:
    return next((a for a in api.all("/applications", types=app_type) if a.get("name") == name), None)


def reconcile_spa(run: Any, spec: SpaSpec) -> str | None:
    """Create the SPA or add the URIs it lacks; its id (None when the plan would create it)."""
    app = _find(run.api, spec.name, "SPA")
    if app is None:
        made = run.write(
            f"create SPA application {spec.name!r} (redirect URIs {', '.join(spec.redirect_uris)})",
            "POST",
            "/applications",
            {
                "name": spec.name,
                "type": "SPA",
                "oidcClientMetadata": {
                    "redirectUris": list(spec.redirect_uris),
                    "postLogoutRedirectUris": list(spec.post_sign_out_uris),
                },
                "customClientMetadata": {"corsAllowedOrigins": list(spec.cors_origins)},
            },
        )
        return made["id"] if made else None
    oidc, custom = app.get("oidcClientMetadata") or {}, app.get("customClientMetadata") or {}
    wanted = {
        "redirectUris": (oidc, spec.redirect_uris),
        "postLogoutRedirectUris": (oidc, spec.post_sign_out_uris),
        "corsAllowedOrigins": (custom, spec.cors_origins),
    }
    missing = {key: [u for u in uris if u not in (held.get(key) or [])] for key, (held, uris) in wanted.items()}
    if any(missing.values()):
        added = "; ".join(f"{key} + {', '.join(uris)}" for key, uris in missing.items() if uris)
        run.write(
            f"add to SPA application {spec.name!r}: {added}",
            "PATCH",
            f"/applications/{quote(app['id'], safe='')}",
            {
                "oidcClientMetadata": {
                    **oidc,
                    "redirectUris": [*(oidc.get("redirectUris") or []), *missing["redirectUris"]],
                    "postLogoutRedirectUris": [
                        *(oidc.get("postLogoutRedirectUris") or []),
                        *missing["postLogoutRedirectUris"],
                    ],
                },
                "customClientMetadata": {
                    **custom,
                    "corsAllowedOrigins": [*(custom.get("corsAllowedOrigins") or []), *missing["corsAllowedOrigins"]],
                },
            },
        )
    return str(app["id"])


def reconcile_service_app(run: Any, name: str) -> str | None:
    """The service's M2M app holding the Management API role; its id (None when the plan would create it)."""
    api: AdminApi = run.api
    role = next((r for r in api.all("/roles", type="MachineToMachine") if r.get("name") == MANAGEMENT_ROLE), None)
    if role is None:
        raise SetupError(f"the tenant has no machine role {MANAGEMENT_ROLE!r} to give the service's app")
    app = _find(api, name, "MachineToMachine")
    if app is None:
        made = run.write(
            f"create M2M application {name!r} for the service",
            "POST",
            "/applications",
            {"name": name, "type": "MachineToMachine"},
        )
        app_id = made["id"] if made else None
        held: set[str] = set()
    else:
        app_id = str(app["id"])
        held = {r["id"] for r in api.all(f"/applications/{quote(app_id, safe='')}/roles")}
    if role["id"] not in held:
        run.write(
            f"give M2M application {name!r} the role {MANAGEMENT_ROLE!r}",
            "POST",
            f"/applications/{quote(app_id or '(new)', safe='')}/roles",
            {"roleIds": [role["id"]]},
        )
    return app_id


def write_secret(run: Any, app_id: str | None, name: str, secret_id: str, client: Any) -> None:
    """Put {"appId", "appSecret"} (the shape orgapi/logto/secrets.py reads) into the secret, unless it holds them already.
    The value is never printed."""
    wanted = None
    if app_id is not None:
        secrets = run.api.call("GET", f"/applications/{quote(app_id, safe='')}/secrets").body or []
        if not secrets:
            raise SetupError(f"M2M application {name!r} has no secret: add one in Logto Console, then run again")
        wanted = {"appId": app_id, "appSecret": secrets[0]["value"]}
        try:
            current = json.loads(client.get_secret_value(SecretId=secret_id).get("SecretString") or "null")
        except client.exceptions.ResourceNotFoundException:
            current = None  # created by the stack but never given a value
        except ValueError:
            current = None
        if current == wanted:
            return
    run.outcome.changes.append(f"write the credentials of M2M application {name!r} into secret {secret_id}")
    if run.apply:
        assert wanted is not None
        client.put_secret_value(SecretId=secret_id, SecretString=json.dumps(wanted))


def react_config(endpoint: str, app_id: str | None, indicator: str, permissions: list[str]) -> list[str]:
    """The LogtoProvider config for the SPA, filled in (the seed's console and README use the same shape)."""
    scopes = ", ".join(["UserScope.Organizations", *(json.dumps(p) for p in permissions)])
    return [
        "@logto/react config (import { UserScope } from '@logto/react'):",
        "  const config: LogtoConfig = {",
        f"    endpoint: {json.dumps(endpoint)},",
        f"    appId: {json.dumps(app_id) if app_id else '/* made by APPLY=1 */ ' + json.dumps('')},",
        f"    resources: [{json.dumps(indicator)}],",
        f"    scopes: [{scopes}],",
        "  };",
    ]
