"""Policy evaluation as API Gateway does it (local/iam.py), and method ARNs for tests."""

from __future__ import annotations

from local.iam import policy_decision as evaluate

__all__ = ["evaluate", "method_arn"]


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
