"""How API Gateway evaluates a Lambda authorizer's policy against a method ARN: `*` matches any run of characters
(slashes included), `?` one character, an explicit Deny wins, and no matching Allow is a deny.

Shared by the local gateway and the policy tests (no dependencies, so both virtualenvs can import it).
"""

from __future__ import annotations

import re
from typing import Any


def _arn_matches(pattern: str, arn: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, arn) is not None


def policy_decision(document: Any, method_arn: str) -> str:
    """'allow', 'explicit_deny' or 'implicit_deny'."""
    allowed = False
    for statement in (document or {}).get("Statement", []):
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if not any(a in ("execute-api:Invoke", "execute-api:*", "*") for a in actions):
            continue
        if any(_arn_matches(r, method_arn) for r in resources):
            if statement.get("Effect") == "Deny":
                return "explicit_deny"
            if statement.get("Effect") == "Allow":
                allowed = True
    return "allow" if allowed else "implicit_deny"
