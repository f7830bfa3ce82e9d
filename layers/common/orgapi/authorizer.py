"""The TOKEN authorizer: verify the bearer token, answer with a policy listing every route it may call.

Outcomes (API Gateway semantics):
- bad or missing token  -> raise Exception("Unauthorized")  -> 401
- valid token           -> policy; a route it does not list -> 403
- JWKS unreachable      -> any other exception               -> 500 (not cached, never an Allow)
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from orgapi.config import Settings, load_settings
from orgapi.jwks import JwksCache, JwksUnavailable
from orgapi.observability import logger, metrics
from orgapi.policy import BadMethodArn, build_policy
from orgapi.verify import TokenRejected, TokenVerifier


def _on_jwks_fetch(ok: bool, key_count: int) -> None:
    metrics.add_metric(name="JwksFetch" if ok else "JwksFetchFailed", unit=MetricUnit.Count, value=1)
    logger.info("jwks_fetch", extra={"ok": ok, "keys": key_count})


def _on_jwks_skip(kid: str, reason: str) -> None:
    logger.warning("jwks_key_skipped", extra={"kid": kid, "reason": reason})


class Authorizer:
    def __init__(self, settings: Settings, verifier: TokenVerifier):
        self.settings, self.verifier = settings, verifier

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

    def authorize(self, event: dict[str, Any]) -> dict[str, Any]:
        try:
            token = self.verifier.verify(event.get("authorizationToken"))
        except TokenRejected as rejected:
            self._decision("unauthorized", rejected.reason)
            raise Exception("Unauthorized") from None  # the exact text API Gateway turns into 401
        except JwksUnavailable:
            self._decision("error", "jwks_unavailable")
            raise  # a 500 is not cached and is never an Allow; a 401 would lock users out for the cache TTL
        except Exception:  # an input we did not foresee: fail closed, as a 401
            logger.exception("verification_failed")
            self._decision("unauthorized", "malformed")
            raise Exception("Unauthorized") from None
        try:
            response = build_policy(event.get("methodArn", ""), token, self.settings.permission_overrides)
        except BadMethodArn:
            self._decision("unauthorized", "bad_method_arn")
            raise Exception("Unauthorized") from None
        logger.append_keys(sub=token.subject, organization_id=token.organization_id, token_kind=token.kind.value)
        allowed = response["policyDocument"]["Statement"][0]["Effect"] == "Allow"
        self._decision("allow" if allowed else "deny", "ok" if allowed else "not_allowed")
        return response

    @staticmethod
    def _decision(decision: str, reason: str) -> None:
        names = {"allow": "Allow", "deny": "Deny", "error": "AuthorizerError"}
        metrics.add_metric(name=names.get(decision, "Unauthorized"), unit=MetricUnit.Count, value=1)
        logger.info("authorizer_decision", extra={"decision": decision, "reason": reason})


def create_authorizer() -> Authorizer:
    authorizer = Authorizer.from_settings(load_settings(require=("API_RESOURCE",)))
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):  # in Lambda (or the local emulator), not in tests or benchmarks
        authorizer.verifier.keys.prefetch()
    return authorizer
