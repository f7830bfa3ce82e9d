"""Evaluates an authorizer policy against a method ARN the way API Gateway does: `*` matches any run of characters
(slashes included), `?` one character, an explicit Deny wins, no matching Allow is a deny."""

from __future__ import annotations

import re
from typing import Any


def _matches(pattern: str, arn: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, arn) is not None


def evaluate(document: dict[str, Any], method_arn: str) -> str:
    """'allow', 'explicit_deny' or 'implicit_deny'."""
    allowed = False
    for statement in document["Statement"]:
        resources = statement["Resource"]
        resources = [resources] if isinstance(resources, str) else resources
        actions = statement["Action"]
        actions = [actions] if isinstance(actions, str) else actions
        if not any(a in ("execute-api:Invoke", "execute-api:*", "*") for a in actions):
            continue
        if any(_matches(r, method_arn) for r in resources):
            if statement["Effect"] == "Deny":
                return "explicit_deny"
            allowed = True
    return "allow" if allowed else "implicit_deny"


def method_arn(
    method: str,
    path: str,
    *,
    region="eu-west-1",
    account="123456789012",
    api="abcdef1234",
    stage="prod",
    partition="aws",
) -> str:
    return f"arn:{partition}:execute-api:{region}:{account}:{api}/{stage}/{method}{path}"
