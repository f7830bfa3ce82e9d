"""IAM policies for the TOKEN authorizer.

API Gateway caches the authorizer's answer per token (ReauthorizeEvery) and checks every later request with that token
against the cached policy. So the policy lists *every* route the token may call, with the token's own organization id
written into the resource ARNs, built from the incoming methodArn's partition/region/account/api/stage. A cached policy
is then right for every route, and another organization's path is never covered.

Built here rather than with Powertools' APIGatewayAuthorizerResponse: that builder accepts `*` in a path, and the
document is cached per (API, token kind, organization, scopes), so a warm authorizer does not rebuild it.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from orgapi.contract.kinds import TokenKind
from orgapi.contract.routes import ROUTES, allows
from orgapi.tokens.identity import authorizer_context
from orgapi.tokens.verify import VerifiedToken


class BadMethodArn(ValueError):
    pass


def arn_prefix(method_arn: str) -> str:
    """`arn:<partition>:execute-api:<region>:<account>:<api>/<stage>` from an incoming methodArn."""
    parts = method_arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "execute-api":
        raise BadMethodArn("not an execute-api method ARN")
    api_and_stage = parts[5].split("/", 2)
    if len(api_and_stage) < 2 or not api_and_stage[0] or not api_and_stage[1]:
        raise BadMethodArn("method ARN without api id and stage")
    return f"{':'.join(parts[:5])}:{api_and_stage[0]}/{api_and_stage[1]}"


def allowed_resources(
    prefix: str, kind: TokenKind, organization_id: str | None, scopes: frozenset[str], overrides: Mapping[str, str]
) -> list[str]:
    return [
        f"{prefix}/{route.method}{route.resource_path(organization_id)}"
        for route in ROUTES
        if allows(route, kind, scopes, overrides)
    ]


@lru_cache(maxsize=512)
def _policy_document(
    prefix: str,
    kind: TokenKind,
    organization_id: str | None,
    scopes: frozenset[str],
    overrides: tuple[tuple[str, str], ...],
) -> dict[str, Any]:
    resources = allowed_resources(prefix, kind, organization_id, scopes, dict(overrides))
    if resources:
        statement = {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resources}
    else:  # a valid token that may call nothing: an explicit Deny, which API Gateway caches like any answer
        statement = {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": [f"{prefix}/*/*"]}
    return {"Version": "2012-10-17", "Statement": [statement]}


def build_policy(method_arn: str, token: VerifiedToken, overrides: Mapping[str, str]) -> dict[str, Any]:
    """The authorizer response for a verified token. Context values are flat scalars, as API Gateway requires."""
    document = _policy_document(
        arn_prefix(method_arn), token.kind, token.organization_id, token.scopes, tuple(sorted(overrides.items()))
    )
    return {
        "principalId": token.subject,
        "policyDocument": document,
        "context": authorizer_context(token),
    }
