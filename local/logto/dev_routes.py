"""Local-only helpers under /__dev/ (see local/logto/server.py's docstring for each): mint a token the way Logto would
issue it, sign arbitrary claims, reset to the seed, the e-mail outbox, the e-mail connector switch, and what the
stand-in holds (/__dev/info). Fault injection and the counters are local/logto/faults.py."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, request

from local.logto.credentials import M2M_APP_ID, SEEDED_PASSWORD, SPA_APP_ID
from local.logto.keys import KeyRing
from local.logto.oidc import Client
from local.logto.store import Store


def register(
    app: Flask,
    *,
    store: Store,
    keys: KeyRing,
    issuer: str,
    api_resource: str,
    management_resource: str,
    outbox: list[dict[str, Any]],
    connectors: dict[str, bool],
    lock: threading.Lock,
    clients: Iterable[Client],
    json_answer: Callable[..., Response],
) -> None:
    _json = json_answer

    @app.post("/__dev/tokens")
    def mint() -> Response:
        """Mint a token the way Logto would issue it: scope = requested ∩ what Logto grants (oidc/resource.ts
        findResourceScopes, called from oidc/init.ts with findFromOrganizations: true). Only the service's API
        resource (API_RESOURCE) counts for API tokens; scopes of other resources never do.

        - global API token (user): the user's global roles' API_RESOURCE scopes, plus the API_RESOURCE scopes of the
          user's organization roles in EVERY organization;
        - organization API token (user): the organization roles' API_RESOURCE scopes in that organization plus the user's
          global roles' API_RESOURCE scopes; (application): its organization roles' API_RESOURCE scopes there;
        - organization token: the organization roles' organization permissions (user or application).
        """
        data = request.get_json(silent=True) or {}
        kind, org_id = data.get("kind"), str(data.get("organizationId") or "")
        if kind not in ("organization", "organization_api", "global_api"):
            return _json({"message": "kind must be organization, organization_api or global_api"}, 400)
        if data.get("applicationId") is not None:
            app_id = data["applicationId"]
            if not store.one("SELECT 1 FROM applications WHERE id = ?", app_id):
                return _json({"message": f"unknown application {app_id!r}"}, 400)
            if kind == "global_api":
                return _json({"message": "applications get organization or organization API tokens here"}, 400)
            if not org_id or not store.one(
                "SELECT 1 FROM org_applications WHERE org_id = ? AND app_id = ?", org_id, app_id
            ):
                # grants/client-credentials.ts: AccessDenied('app has not associated with the organization')
                return _json({"message": "app has not associated with the organization"}, 403)
            subject = client_id = app_id
            granted = store.app_scopes_of(org_id, app_id, api=kind == "organization_api")
        else:
            user_id = str(data.get("userId"))
            if store.one("SELECT 1 FROM users WHERE id = ?", user_id) is None:
                return _json({"message": f"unknown user {user_id!r}"}, 400)
            subject, client_id = user_id, SPA_APP_ID  # as the console's app gets them (oidc.py)
            if kind == "global_api":
                granted = store.global_api_scopes(user_id) | store.org_role_api_scopes(user_id, None)
            elif not org_id or not store.one("SELECT 1 FROM members WHERE org_id = ? AND user_id = ?", org_id, user_id):
                return _json({"message": "user is not a member of the organization"}, 403)
            elif kind == "organization":
                granted = store.org_scopes_of(org_id, user_id)
            else:
                granted = store.org_role_api_scopes(user_id, org_id) | store.global_api_scopes(user_id)
        requested = data.get("scopes")
        scopes = granted if requested is None else granted & set(requested)
        aud = f"urn:logto:organization:{org_id}" if kind == "organization" else api_resource
        extra = {"organization_id": org_id} if kind == "organization_api" else {}
        token = keys.access_token(
            issuer,
            subject,
            client_id,
            aud,
            " ".join(sorted(scopes)),
            ttl=int(data.get("expiresIn", 3600)),
            alg=data.get("alg", "ES384"),
            **extra,
        )
        return _json({"token": token, "scope": " ".join(sorted(scopes)), "aud": aud})

    @app.post("/__dev/sign")
    def sign() -> Response:
        """Sign arbitrary claims with the tenant key (tests of the authorizer's claim rules)."""
        data = request.get_json(silent=True) or {}
        return _json({"token": keys.sign(data.get("claims", {}), data.get("alg", "ES384"), data.get("header"))})

    @app.post("/__dev/reset")
    def reset() -> Response:
        store.reset()
        with lock:
            outbox.clear()
        return Response(status=204)

    @app.get("/__dev/outbox")
    def read_outbox() -> Response:
        with lock:
            return _json(list(outbox))

    @app.delete("/__dev/outbox")
    def clear_outbox() -> Response:
        with lock:
            outbox.clear()
        return Response(status=204)

    @app.route("/__dev/connector", methods=["GET", "POST"])
    def connector() -> Response:
        data = request.get_json(silent=True) if request.method == "POST" else None
        if isinstance(data, dict) and isinstance(data.get("email"), bool):
            connectors["email"] = data["email"]
        elif request.method == "POST":
            return _json({"message": 'expected {"email": true|false}'}, 400)
        return _json(dict(connectors))

    @app.get("/__dev/info")
    def info() -> Response:
        users = [
            {
                "id": r["id"],
                "email": r["primary_email"],
                "globalRoles": [
                    g["name"]
                    for g in store.q(
                        "SELECT r.name FROM users_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = ? "
                        "ORDER BY r.name",
                        r["id"],
                    )
                ],
                "globalScopes": sorted(store.global_api_scopes(r["id"])),
            }
            for r in store.q("SELECT * FROM users ORDER BY id")
        ]
        orgs = [{"id": r["id"], "name": r["name"]} for r in store.q("SELECT * FROM organizations ORDER BY created_at")]
        apps = [{"id": r["id"], "name": r["name"]} for r in store.q("SELECT * FROM applications ORDER BY id")]
        return _json(
            {
                "issuer": issuer,
                "apiResource": api_resource,
                "managementApiResource": management_resource,
                "m2mAppId": M2M_APP_ID,
                "resources": [store.resource(r) for r in store.q("SELECT * FROM resources ORDER BY rowid")],
                "users": users,
                "organizations": orgs,
                "applications": apps,
                "password": SEEDED_PASSWORD,  # every seeded user's, on the sign-in page
                "spaApps": [
                    {"id": c.id, "redirectUris": c.redirect_uris, "postLogoutRedirectUris": c.post_logout_redirect_uris}
                    for c in clients
                ],
            }
        )
