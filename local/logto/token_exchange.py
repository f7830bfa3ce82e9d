"""Subject tokens and the token-exchange grant, as Logto issues them (how `make smoke` gets real user tokens from a
tenant without a browser):

- POST /api/subject-tokens (M2M token with Management API access), body `{userId, context?}` → 201
  `{subjectToken: "sub_…", expiresIn: 600}` (routes/subject-token.ts; constants/index.ts subjectTokenPrefix,
  subjectTokenExpiresIn);
- POST /oidc/token `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (oidc/grants/token-exchange/index.ts,
  account.ts): the client must be allowed the grant (`customClientMetadata.allowTokenExchange`, oidc/utils.ts
  getConstantClientMetadata; else 400 `invalid_request` "requested grant type is not allowed for this client");
  `subject_token` +
  `subject_token_type=urn:ietf:params:oauth:token-type:access_token`; the subject token must exist, be unexpired and
  unused (400 `invalid_grant` "grant request is invalid"), and is consumed by its first successful exchange. With `organization_id` and no
  `resource`: an organization token; with `resource` (and maybe `organization_id`): an API token; claims as the
  refresh-token grant gives (notes/logto-observed.md "Tokens": same claims, no `act`). A non-member asking for an
  organization: 403 `oidc.access_denied` (grants/utils.ts checkOrganizationAccess). The issued scope is the
  requested `scope` ∩ what the user's roles grant — no `scope` parameter, no permissions (requestParamScopes).

Statuses, codes and descriptions checked against a Logto 1.42.0 build. Not served: personal-access-token and JWT
subject tokens, actor tokens, and the exchange with neither `organization_id` nor `resource` (Logto answers 200 with
an opaque token for the OIDC scopes there; the stand-in only issues JWTs and answers 400 `invalid_target`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request

from local.logto import provisioning
from local.logto.keys import KeyRing
from local.logto.store import Store, now_ms

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
SUBJECT_TOKEN_PREFIX = "sub_"
SUBJECT_TOKEN_TTL = 600  # seconds
SCHEMA = """
CREATE TABLE IF NOT EXISTS subject_tokens (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id)
  ON DELETE CASCADE, context TEXT NOT NULL, creator_id TEXT, expires_at INTEGER NOT NULL, consumed_at INTEGER);
"""


def _json(body: Any, status: int) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def oidc_error(status: int, error: str, description: str) -> Response:
    """Logto's koa-oidc-error-handler body: `code: oidc.<error>` plus the OAuth fields."""
    return _json(
        {"code": f"oidc.{error}", "message": description, "error": error, "error_description": description}, status
    )


class TokenExchange:
    def __init__(self, store: Store, keys: KeyRing, issuer: str):
        self.store, self.keys, self.issuer = store, keys, issuer
        store.db.executescript(SCHEMA)

    def issue_subject_token(self, user_id: str, context: dict[str, Any], creator_id: str | None) -> dict[str, Any]:
        token = SUBJECT_TOKEN_PREFIX + secrets.token_urlsafe(16)
        self.store.db.execute(
            "INSERT INTO subject_tokens VALUES (?,?,?,?,?,NULL)",
            (token, user_id, json.dumps(context), creator_id, now_ms() + SUBJECT_TOKEN_TTL * 1000),
        )
        return {"subjectToken": token, "expiresIn": SUBJECT_TOKEN_TTL}

    def grant(self, client_id: str | None, client_secret: str | None, form: Any) -> Response:
        """The token endpoint's answer to a token-exchange request (client authentication included)."""
        store = self.store
        client = provisioning.client(store, client_id) if client_id else None
        if client is None:
            return oidc_error(400, "invalid_client", "client is invalid")
        if client["type"] != "MachineToMachine" and not client["redirectUris"]:
            # oidc-provider validates the client's metadata when it loads it: an app that signs users in (every
            # type but M2M keeps the authorization_code grant) needs a redirect URI, whatever grant it asks for.
            # Seen on Logto 1.42 for a Traditional app created without one.
            return oidc_error(400, "invalid_redirect_uri", "redirect_uris must contain members")
        if client_secret not in client["secrets"]:
            return oidc_error(401, "invalid_client", "client authentication failed")
        if not client["customClientMetadata"].get("allowTokenExchange"):
            return oidc_error(400, "invalid_request", "requested grant type is not allowed for this client")
        missing = next((p for p in ("subject_token", "subject_token_type") if not form.get(p)), None)
        if missing:
            return oidc_error(400, "invalid_request", f"missing required parameter '{missing}'")
        # account.ts names the reason (not found, expired, consumed, unsupported type); oidc-provider answers every
        # InvalidGrant with the same description
        row = store.one("SELECT * FROM subject_tokens WHERE id = ?", form["subject_token"])
        if (
            form["subject_token_type"] != ACCESS_TOKEN_TYPE
            or row is None
            or row["expires_at"] <= now_ms()
            or row["consumed_at"] is not None
        ):
            return oidc_error(400, "invalid_grant", "grant request is invalid")
        user_id, org_id, resource = row["user_id"], form.get("organization_id"), form.get("resource")
        if org_id and not store.one("SELECT 1 FROM members WHERE org_id = ? AND user_id = ?", org_id, user_id):
            return oidc_error(403, "access_denied", "user is not a member of the organization")
        requested = set((form.get("scope") or "").split())
        extra: dict[str, Any] = {}
        if resource:
            if resource != store.api_resource:
                # The stand-in's user tokens are for the service's API resource (as /__dev/tokens mints them).
                return oidc_error(400, "invalid_target", "resource indicator is missing, or unknown")
            if org_id:
                granted = store.org_role_api_scopes(user_id, org_id) | store.global_api_scopes(user_id)
                extra = {"organization_id": org_id}
            else:
                granted = store.global_api_scopes(user_id) | store.org_role_api_scopes(user_id, None)
            audience = resource
        elif org_id:
            granted, audience = store.org_scopes_of(org_id, user_id), f"urn:logto:organization:{org_id}"
        else:
            return oidc_error(
                400, "invalid_target", "the stand-in exchanges subject tokens for organization or API tokens only"
            )
        scope = " ".join(sorted(granted & requested))
        token = self.keys.access_token(self.issuer, user_id, client_id or "", audience, scope, **extra)
        store.db.execute("UPDATE subject_tokens SET consumed_at = ? WHERE id = ?", (now_ms(), row["id"]))
        return _json({"access_token": token, "expires_in": 3600, "scope": scope, "token_type": "Bearer"}, 200)


def install(
    app: Flask, exchange: TokenExchange, *, require_m2m: Callable[[], None], error: Callable[..., Exception]
) -> None:
    """Registers POST /api/subject-tokens; the token endpoint hands the grant to `exchange.grant`."""

    @app.post("/api/subject-tokens")
    def create_subject_token() -> Response:
        require_m2m()
        data = request.get_json(silent=True)
        valid = (
            isinstance(data, dict) and isinstance(data.get("userId"), str) and isinstance(data.get("context", {}), dict)
        )
        if not valid:
            raise error(400, "guard.invalid_input", "The request body is invalid.", details="userId, context")
        if not exchange.store.one("SELECT 1 FROM users WHERE id = ?", data["userId"]):
            # insertSubjectToken hits the users foreign key: 404 with this code on Logto 1.42 (seen)
            raise error(404, "entity.relation_foreign_key_not_found", "Cannot find one or more foreign keys.")
        return _json(exchange.issue_subject_token(data["userId"], data.get("context", {}), None), 201)
