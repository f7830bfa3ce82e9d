"""Sign-in through the stand-in: the OIDC provider a real Logto 1.42 is, for the single-page app (the demo console) and
any app built on Logto's SDKs (`@logto/browser` reads discovery, then uses the endpoints below).

Real Logto is node-oidc-provider configured by `packages/core/src/oidc/init.ts` (logto-io/logto); what is followed here:
- authorization code flow, PKCE required for public clients and `S256` only (`pkce.methods: ['S256']`);
- an authorization code lives 60 seconds (node-oidc-provider's default TTL, not overridden by Logto) and is single-use:
  a second exchange is refused AND revokes what the first one issued (node-oidc-provider, grants/authorization_code.js);
- refresh tokens of a public client rotate on every use (`rotateRefreshToken` → node-oidc-provider's default: public
  clients rotate); a rotated (consumed) refresh token presented again is refused and its whole grant revoked
  (`oidc/grants/refresh-token.ts`, "refresh token already used");
- the refresh_token grant with `organization_id` (organization token), `resource` (API token) or both (organization
  API token), RFC 0001 (`oidc/grants/refresh-token.ts`, `oidc/grants/utils.ts`): a non-member gets 403
  `access_denied` "user is not a member of the organization"; a token's `scope` is what the user's roles grant AMONG
  the scopes the app asked for at sign-in (notes/logto-observed.md, "Through Logto's own browser SDK");
- the ID token carries `organizations` / `organization_roles` ("<orgId>:<role>") when
  `urn:logto:scope:organizations` / `urn:logto:scope:organization_roles` were asked for (`@logto/core-kit`'s
  `idTokenClaims`, read by `oidc/scope.ts`).
Left out: consent screens, social sign-in, MFA, `prompt=none`, ID token `at_hash`. Codes, sessions and refresh tokens
live in memory: a restart of the stand-in signs everybody out (real Logto keeps them in its database).

Local-only: `GET|POST /__dev/oidc` reads or changes {"accessTokenTtl", "codeTtl"} (seconds; tests of expiry).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, redirect, render_template, request

from local.logto.credentials import SEEDED_PASSWORD, SPA_APP_ID
from local.logto.keys import KeyRing
from local.logto.store import Store

ORGANIZATIONS_SCOPE = "urn:logto:scope:organizations"
ORGANIZATION_ROLES_SCOPE = "urn:logto:scope:organization_roles"
ORGANIZATION_RESOURCE = "urn:logto:resource:organizations"  # @logto/js ReservedResource.Organization
SESSION_COOKIE = "_session"
OIDC_SCOPES = ("openid", "offline_access", "profile", "email", ORGANIZATIONS_SCOPE, ORGANIZATION_ROLES_SCOPE)
TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass
class Client:
    id: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]

    def origins(self) -> set[str]:
        return {"{0.scheme}://{0.netloc}".format(urlsplit(uri)) for uri in self.redirect_uris}


@dataclass
class Grant:
    """What one sign-in granted: revoking it (a reused code or refresh token) ends every token it issued."""

    id: str
    client_id: str
    user_id: str
    scopes: list[str]
    resources: list[str]
    revoked: bool = False


@dataclass
class Code:
    grant: Grant
    redirect_uri: str
    challenge: str
    expires_at: float
    consumed: bool = False


@dataclass
class RefreshToken:
    grant: Grant
    expires_at: float
    consumed: bool = False


@dataclass
class State:
    clients: dict[str, Client]
    interactions: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, str] = field(default_factory=dict)  # session id -> user id
    codes: dict[str, Code] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    opaque: dict[str, tuple[Grant, float]] = field(default_factory=dict)  # userinfo access tokens
    settings: dict[str, int] = field(default_factory=lambda: {"accessTokenTtl": 3600, "codeTtl": 60})
    lock: threading.Lock = field(default_factory=threading.Lock)


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def oidc_error(status: int, error: str, description: str) -> Response:
    """Logto's answer for an oidc-provider error: {code: "oidc.<error>", message, error, error_description}
    (middleware/koa-oidc-error-handler.ts; notes/logto-observed.md for the 403 access_denied body)."""
    body = {"code": f"oidc.{error}", "message": description, "error": error, "error_description": description}
    return _json(body, status)


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _expiry(entry: Any) -> float:
    if isinstance(entry, dict):
        return float(entry["expires_at"])
    if isinstance(entry, tuple):
        return entry[1]
    return float(entry.expires_at)


def _redirect(url: str, params: Mapping[str, str]) -> Response:
    # 303, as Logto answers at the end of /oidc/auth (notes/logto-observed.md)
    return redirect(f"{url}{'&' if '?' in url else '?'}{urlencode(params)}", code=303)


def console_client(console_url: str) -> Client:
    """The demo console's SPA app: it signs in at /callback and comes back to its page after sign-out."""
    base = console_url.rstrip("/")
    return Client(SPA_APP_ID, [f"{base}/callback"], [f"{base}/"])


def create_oidc(
    *, store: Store, keys: KeyRing, issuer: str, api_resource: str, clients: list[Client]
) -> tuple[Blueprint, dict[str, Callable[[Any], Response]], State]:
    """The blueprint (discovery, authorization, sign-in page, end session, revocation, userinfo), the token endpoint's
    user grants by grant_type (the stand-in's /oidc/token dispatches to them), and the state (for /__dev/info)."""
    bp = Blueprint("oidc", __name__, template_folder=str(TEMPLATES))
    state = State({c.id: c for c in clients})

    def now() -> float:
        return time.time()

    def seeded_user(username: str) -> str | None:
        row = store.one("SELECT id FROM users WHERE username = ?", username)
        return row["id"] if row else None

    # -- discovery (node-oidc-provider's routes under the issuer; what @logto/js fetchOidcConfig reads) --------------
    @bp.get("/oidc/.well-known/openid-configuration")
    def discovery() -> Response:
        return _json(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/auth",
                "token_endpoint": f"{issuer}/token",
                "userinfo_endpoint": f"{issuer}/me",
                "end_session_endpoint": f"{issuer}/session/end",
                "revocation_endpoint": f"{issuer}/token/revocation",
                "jwks_uri": f"{issuer}/jwks",
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
                "code_challenge_methods_supported": ["S256"],
                "scopes_supported": list(OIDC_SCOPES),
                "subject_types_supported": ["public"],
                "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
                "id_token_signing_alg_values_supported": ["ES384", "RS256"],
                "claims_parameter_supported": False,
                "request_parameter_supported": False,
            }
        )

    @bp.after_app_request
    def cors(response: Response) -> Response:
        """node-oidc-provider: discovery and JWKS are readable from any origin; the other endpoints from the origins
        of a client's redirect URIs (init.ts `clientBasedCORS`)."""
        origin = request.headers.get("Origin")
        if not origin or not request.path.startswith("/oidc/"):
            return response
        if request.path in ("/oidc/jwks", "/oidc/.well-known/openid-configuration"):
            response.headers["Access-Control-Allow-Origin"] = "*"
        elif any(origin in c.origins() for c in state.clients.values()):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        return response

    # -- authorization --------------------------------------------------------------------------------------------------
    @bp.get("/oidc/auth")
    def authorize() -> Response:
        args = request.args
        client = state.clients.get(args.get("client_id", ""))
        if client is None:  # no trusted redirect_uri yet: answered here, not redirected
            return oidc_error(400, "invalid_client", "client is invalid")
        redirect_uri = args.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            return oidc_error(
                400, "invalid_redirect_uri", "redirect_uri did not match any of the client's registered redirect_uris"
            )
        back = {"state": args["state"]} if "state" in args else {}

        def refuse(error: str, description: str) -> Response:
            # from here on errors go back to the app (RFC 6749 §4.1.2.1), with `iss` (RFC 9207)
            return _redirect(redirect_uri, {"error": error, "error_description": description, **back, "iss": issuer})

        if args.get("response_type") != "code":
            return refuse("unsupported_response_type", "unsupported response_type requested")
        scopes = args.get("scope", "").split()
        if "openid" not in scopes:
            return refuse("invalid_request", "openid scope must be requested when using the response_type=code")
        method = args.get("code_challenge_method", "plain")
        challenge = args.get("code_challenge")
        if not challenge:
            return refuse("invalid_request", "Authorization Server policy requires PKCE to be used for this request")
        if method != "S256":  # `plain` included: init.ts `pkce.methods: ['S256']`
            return refuse("invalid_request", "not supported value of code_challenge_method")
        resources = args.getlist("resource")
        known = {r["indicator"] for r in store.q("SELECT indicator FROM resources")} | {ORGANIZATION_RESOURCE}
        if any(r not in known for r in resources):
            return refuse("invalid_target", "resource indicator is missing, or unknown")
        uid = secrets.token_urlsafe(16)
        with state.lock:
            forget_expired()
            state.interactions[uid] = {
                "client": client.id,
                "redirect_uri": redirect_uri,
                "back": back,
                "challenge": challenge,
                "scopes": scopes,
                "resources": resources,
                "expires_at": now() + 3600,  # init.ts ttl.Interaction
            }
        signed_in = state.sessions.get(request.cookies.get(SESSION_COOKIE, ""))
        if signed_in and "login" not in args.get("prompt", "").split():
            return redirect(f"{issuer}/auth/{uid}", code=303)
        return redirect(f"/sign-in?uid={uid}", code=303)

    def forget_expired() -> None:
        """Keeps a long `make local` session's memory bounded (caller holds state.lock)."""
        moment = now()
        for table in (state.interactions, state.codes, state.refresh_tokens, state.opaque):
            for key in [k for k, v in table.items() if _expiry(v) <= moment]:
                del table[key]

    def interaction(uid: str) -> dict[str, Any] | None:
        found = state.interactions.get(uid)
        return found if found and found["expires_at"] > now() else None

    @bp.route("/sign-in", methods=["GET", "POST"])
    def sign_in() -> Response | str:
        uid = request.values.get("uid", "")
        if interaction(uid) is None:
            return Response(render_template("sign-in.html", expired=True), status=400)
        if request.method == "GET":
            return render_template("sign-in.html", uid=uid)
        username = request.form.get("username", "").strip()
        user_id = seeded_user(username)
        if user_id is None or not secrets.compare_digest(request.form.get("password", ""), SEEDED_PASSWORD):
            page = render_template("sign-in.html", uid=uid, username=username, failed=True)
            return Response(page, status=422)
        session_id = secrets.token_urlsafe(24)
        with state.lock:
            state.sessions[session_id] = user_id
        response = redirect(f"{issuer}/auth/{uid}", code=303)
        response.set_cookie(SESSION_COOKIE, session_id, httponly=True, samesite="Lax", path="/")
        return response

    @bp.get("/oidc/auth/<uid>")
    def resume(uid: str) -> Response:
        """After sign-in: the code, back to the app's redirect URI (HTTP 303, as Logto answers)."""
        pending = interaction(uid)
        user_id = state.sessions.get(request.cookies.get(SESSION_COOKIE, ""))
        if pending is None:
            return oidc_error(400, "invalid_request", "interaction session not found")
        if user_id is None:
            return redirect(f"/sign-in?uid={uid}", code=303)
        with state.lock:
            state.interactions.pop(uid, None)
            grant = Grant(secrets.token_hex(8), pending["client"], user_id, pending["scopes"], pending["resources"])
            code = secrets.token_urlsafe(32)
            state.codes[code] = Code(
                grant, pending["redirect_uri"], pending["challenge"], now() + state.settings["codeTtl"]
            )
        return _redirect(pending["redirect_uri"], {"code": code, **pending["back"], "iss": issuer})

    @bp.get("/oidc/session/end")
    def end_session() -> Response:
        """RP-initiated logout: the stand-in's session ends and the browser goes back to a registered
        post_logout_redirect_uri. (Logto shows an auto-submitted confirmation form first; the outcome is the same.)"""
        client = state.clients.get(request.args.get("client_id", ""))
        if client is None:
            return oidc_error(400, "invalid_client", "client is invalid")
        target = request.args.get("post_logout_redirect_uri")
        if target is not None and target not in client.post_logout_redirect_uris:
            return oidc_error(400, "invalid_request", "post_logout_redirect_uri not registered")
        with state.lock:
            state.sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
        response = redirect(target, code=303) if target else Response(render_template("sign-in.html", signed_out=True))
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @bp.post("/oidc/token/revocation")
    def revoke() -> Response:
        with state.lock:
            token = state.refresh_tokens.get(request.form.get("token", ""))
            if token and token.grant.client_id == request.form.get("client_id"):
                token.grant.revoked = True
        return Response(status=200)  # RFC 7009: 200 whether or not the token was known

    @bp.route("/oidc/me", methods=["GET", "POST"])
    def userinfo() -> Response:
        header = request.headers.get("Authorization", "")
        with state.lock:
            found = state.opaque.get(header[7:]) if header.startswith("Bearer ") else None
        if found is None or found[1] < now() or found[0].revoked:
            return oidc_error(401, "invalid_token", "invalid token provided")
        return _json(user_claims(found[0]))

    @bp.route("/__dev/oidc", methods=["GET", "POST"])
    def settings() -> Response:
        data = request.get_json(silent=True) if request.method == "POST" else {}
        if not isinstance(data, dict) or any(
            k not in state.settings or not isinstance(v, int) or v < 0 for k, v in data.items()
        ):
            return _json({"message": 'expected {"accessTokenTtl"?: seconds, "codeTtl"?: seconds}'}, 400)
        state.settings.update(data)
        return _json(dict(state.settings))

    # -- tokens ---------------------------------------------------------------------------------------------------------
    def user_claims(grant: Grant) -> dict[str, Any]:
        user = store.one("SELECT * FROM users WHERE id = ?", grant.user_id)
        claims: dict[str, Any] = {"sub": grant.user_id}
        if user is None:
            return claims
        if "profile" in grant.scopes:
            claims.update(name=user["name"], picture=user["avatar"], username=user["username"])
        if "email" in grant.scopes:
            claims.update(email=user["primary_email"], email_verified=bool(user["primary_email"]))
        if ORGANIZATIONS_SCOPE in grant.scopes:
            orgs = store.q("SELECT org_id FROM members WHERE user_id = ? ORDER BY org_id", grant.user_id)
            claims["organizations"] = [r["org_id"] for r in orgs]
        if ORGANIZATION_ROLES_SCOPE in grant.scopes:
            roles = store.q(
                "SELECT mr.org_id, r.name FROM member_roles mr JOIN org_roles r ON r.id = mr.role_id "
                "WHERE mr.user_id = ? ORDER BY mr.org_id, r.name",
                grant.user_id,
            )
            claims["organization_roles"] = [f"{r['org_id']}:{r['name']}" for r in roles]
        return claims

    def id_token(grant: Grant) -> str:
        issued = int(now())
        claims = {**user_claims(grant), "iat": issued, "exp": issued + 3600, "aud": grant.client_id, "iss": issuer}
        return keys.sign(claims, header={"typ": "JWT"})

    def access_token(grant: Grant, aud: str, scope: str, organization_id: str | None) -> tuple[str, int]:
        """Claims in real Logto's order (notes/logto-observed.md, "Tokens"): organization_id first when present."""
        ttl = state.settings["accessTokenTtl"]
        issued = int(now())
        claims: dict[str, Any] = {"organization_id": organization_id} if organization_id else {}
        claims.update(
            jti=secrets.token_urlsafe(16),
            sub=grant.user_id,
            iat=issued,
            exp=issued + ttl,
            scope=scope,
            client_id=grant.client_id,
            iss=issuer,
            aud=aud,
        )
        return keys.sign(claims), ttl

    def opaque_token(grant: Grant) -> tuple[str, int]:
        """Without a resource, Logto's access token is opaque, for the userinfo endpoint only."""
        value = secrets.token_urlsafe(32)
        with state.lock:
            state.opaque[value] = (grant, now() + 3600)
        return value, 3600

    def new_refresh_token(grant: Grant) -> str | None:
        if "offline_access" not in grant.scopes:  # init.ts issueRefreshToken
            return None
        value = secrets.token_urlsafe(32)
        with state.lock:
            state.refresh_tokens[value] = RefreshToken(grant, now() + 14 * 24 * 3600)  # refreshTokenTtlInDays: 14
        return value

    def token_response(grant: Grant, token: str, ttl: int, scope: str, refresh: str | None) -> Response:
        body: dict[str, Any] = {"access_token": token, "expires_in": ttl, "token_type": "Bearer", "scope": scope}
        if "openid" in grant.scopes:
            body["id_token"] = id_token(grant)
        if refresh:
            body["refresh_token"] = refresh
        return _json(body)

    def public_client(form: Any) -> Client | None:
        return state.clients.get(form.get("client_id", ""))

    def authorization_code(form: Any) -> Response:
        """node-oidc-provider lib/actions/grants/authorization_code.js, in its order of checks."""
        client = public_client(form)
        if client is None:
            return oidc_error(401, "invalid_client", "client authentication failed")
        if not form.get("code"):
            return oidc_error(400, "invalid_request", "missing required parameter 'code'")
        with state.lock:
            code = state.codes.get(form["code"])
            if code is None:
                return oidc_error(400, "invalid_grant", "grant request is invalid")  # authorization code not found
            if code.grant.client_id != client.id:
                return oidc_error(400, "invalid_grant", "grant request is invalid")  # client mismatch
            if code.expires_at <= now():
                return oidc_error(400, "invalid_grant", "grant request is invalid")  # authorization code is expired
            verifier = form.get("code_verifier", "")
            if not verifier or not secrets.compare_digest(_s256(verifier), code.challenge):
                return oidc_error(400, "invalid_grant", "grant request is invalid")  # PKCE verification failed
            if form.get("redirect_uri") != code.redirect_uri:
                return oidc_error(400, "invalid_grant", "grant request is invalid")  # redirect_uri mismatch
            if code.consumed:
                code.grant.revoked = True  # everything the first exchange issued stops working
                return oidc_error(400, "invalid_grant", "grant request is invalid")  # already consumed
            code.consumed = True
        grant = code.grant
        token, ttl = opaque_token(grant)
        scope = " ".join(s for s in grant.scopes if s in OIDC_SCOPES)
        return token_response(grant, token, ttl, scope, new_refresh_token(grant))

    def refresh_token(form: Any) -> Response:
        """oidc/grants/refresh-token.ts (Logto's fork of the grant, with RFC 0001's organization tokens)."""
        client = public_client(form)
        if client is None:
            return oidc_error(401, "invalid_client", "client authentication failed")
        if not form.get("refresh_token"):
            return oidc_error(400, "invalid_request", "missing required parameter 'refresh_token'")
        with state.lock:
            current = state.refresh_tokens.get(form["refresh_token"])
            if current is None or current.grant.revoked:
                return oidc_error(400, "invalid_grant", "grant request is invalid")  # refresh token not found
            if current.grant.client_id != client.id or current.expires_at <= now():
                return oidc_error(400, "invalid_grant", "grant request is invalid")  # client mismatch / expired
            if current.consumed:
                current.grant.revoked = True  # reuse of a rotated token: the whole grant goes
                return oidc_error(400, "invalid_grant", "grant request is invalid")  # refresh token already used
        grant = current.grant
        org_id, resource = form.get("organization_id") or None, form.get("resource") or None
        if org_id and not store.one(
            "SELECT 1 FROM members WHERE org_id = ? AND user_id = ?", org_id, grant.user_id
        ):  # grants/utils.ts checkOrganizationAccess
            return oidc_error(403, "access_denied", "user is not a member of the organization")
        if org_id and ORGANIZATIONS_SCOPE not in grant.scopes:
            return oidc_error(403, "insufficient_scope", "refresh token missing required scope")
        if resource and resource not in grant.resources:
            return oidc_error(400, "invalid_target", "resource indicator is missing, or unknown")
        with state.lock:
            current.consumed = True  # public client: rotated on every use
        rotated = new_refresh_token(grant)
        asked = set(grant.scopes)
        if org_id and not resource:
            granted = store.org_scopes_of(org_id, grant.user_id)
            aud = f"urn:logto:organization:{org_id}"
        elif resource == api_resource:
            granted = store.global_api_scopes(grant.user_id) | store.org_role_api_scopes(grant.user_id, org_id)
            aud = resource
        elif resource:
            granted, aud = set(), resource  # another API: this stand-in grants nothing of it to users
        else:
            token, ttl = opaque_token(grant)
            return token_response(grant, token, ttl, " ".join(s for s in grant.scopes if s in OIDC_SCOPES), rotated)
        scope = " ".join(sorted(granted & asked))
        token, ttl = access_token(grant, aud, scope, org_id if resource else None)
        return token_response(grant, token, ttl, scope, rotated)

    return bp, {"authorization_code": authorization_code, "refresh_token": refresh_token}, state
