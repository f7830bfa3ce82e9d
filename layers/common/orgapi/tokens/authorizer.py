"""The TOKEN authorizer: verify the bearer token, answer with a policy listing every route it may call.

Outcomes (API Gateway semantics):
- bad or missing token  -> raise Exception("Unauthorized")  -> 401
- valid token           -> policy; a route it does not list -> 403
- JWKS unreachable      -> any other exception               -> 500 (not cached, never an Allow)

What an invocation writes: ONE line, `authorizer_decision` (decision, reason code, who, the request id), which is
also its metric (Allow, Deny, Unauthorized or AuthorizerError, in CloudWatch's embedded format, serialized by
Powertools). The warm path is a signature check and little else, so this line is written as one JSON write to stdout:
through Powertools' Logger the same line cost ~25 µs (its record, filters and formatter), 7 % of the P-384 verify it
sits beside, and a separate metrics blob more again. Every other line (JWKS fetches, skipped keys, an unforeseen
error) goes through Powertools' Logger as in every function.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from orgapi.base.config import Settings, load_settings
from orgapi.base.observability import counted, logger
from orgapi.tokens.jwks import JwksCache, JwksUnavailable
from orgapi.tokens.policy import BadMethodArn, build_policy
from orgapi.tokens.verify import TokenRejected, TokenVerifier, VerifiedToken

_METRIC = {"allow": "Allow", "deny": "Deny", "error": "AuthorizerError", "unauthorized": "Unauthorized"}


def _on_jwks_fetch(ok: bool, key_count: int) -> None:
    logger.info("jwks_fetch", extra={"ok": ok, "keys": key_count, **counted("JwksFetch" if ok else "JwksFetchFailed")})


def _on_jwks_skip(kid: str, reason: str) -> None:
    logger.warning("jwks_key_skipped", extra={"kid": kid, "reason": reason})


class Authorizer:
    def __init__(self, settings: Settings, verifier: TokenVerifier):
        self.settings, self.verifier = settings, verifier
        self._cold = True
        self._service = logger.service

    @classmethod
    def from_settings(cls, settings: Settings) -> Authorizer:
        keys = JwksCache(
            settings.jwks_url,
            max_age=settings.jwks_max_age_seconds,
            cooldown=settings.jwks_refresh_cooldown_seconds,
            stale_grace=settings.jwks_stale_grace_seconds,
            timeout=settings.jwks_timeout_seconds,
            on_fetch=_on_jwks_fetch,
            on_skip=_on_jwks_skip,
        )
        return cls(settings, TokenVerifier(settings, keys))

    def authorize(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        request_id = getattr(context, "aws_request_id", None)
        try:
            token = self.verifier.verify(event.get("authorizationToken"))
        except TokenRejected as rejected:
            self._decision(request_id, "unauthorized", rejected.reason)
            raise Exception("Unauthorized") from None  # the exact text API Gateway turns into 401
        except JwksUnavailable:
            self._decision(request_id, "error", "jwks_unavailable")
            raise  # a 500 is not cached and is never an Allow; a 401 would lock users out for the cache TTL
        except Exception:  # an input we did not foresee: fail closed, as a 401
            logger.exception("verification_failed", extra={"request_id": request_id})
            self._decision(request_id, "unauthorized", "malformed")
            raise Exception("Unauthorized") from None
        try:
            response = build_policy(event.get("methodArn", ""), token, self.settings.permission_overrides)
        except BadMethodArn:
            self._decision(request_id, "unauthorized", "bad_method_arn", token)
            raise Exception("Unauthorized") from None
        allowed = response["policyDocument"]["Statement"][0]["Effect"] == "Allow"
        self._decision(request_id, "allow" if allowed else "deny", "ok" if allowed else "not_allowed", token)
        return response

    def _decision(self, request_id: str | None, decision: str, reason: str, token: VerifiedToken | None = None) -> None:
        line: dict[str, Any] = {
            "level": "INFO",
            "message": "authorizer_decision",
            "timestamp": int(time.time() * 1000),  # epoch milliseconds
            "service": self._service,
            "decision": decision,
            "reason": reason,
            "function_request_id": request_id,
        }
        if token is not None:
            line.update(sub=token.subject, organization_id=token.organization_id, token_kind=token.kind.value)
        if self._cold:
            line["cold_start"], self._cold = True, False
        trace = os.environ.get("_X_AMZN_TRACE_ID")  # set per invocation by Lambda when tracing is active
        if trace:
            line["xray_trace_id"] = trace.split(";", 1)[0].removeprefix("Root=")
        line.update(counted(_METRIC[decision]))
        sys.stdout.write(json.dumps(line, separators=(",", ":"), default=str) + "\n")
        sys.stdout.flush()


def create_authorizer() -> Authorizer:
    authorizer = Authorizer.from_settings(load_settings(require=("API_RESOURCE",)))
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):  # in Lambda (or the local emulator), not in tests or benchmarks
        authorizer.verifier.keys.prefetch()
    return authorizer
