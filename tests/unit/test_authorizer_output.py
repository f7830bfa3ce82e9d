"""What one authorizer invocation writes (issue 22): exactly one line, which is both the decision's log line and its
metric in CloudWatch's embedded metric format; no second metrics blob, no logger state carried to the next call."""

from __future__ import annotations

import pytest

from tests.unit.test_authorizer_handler import CONTEXT, event, handler, jwks_server, org_token  # noqa: F401


def warm(handler, log_lines):  # noqa: F811
    """The first call fetches the JWKS (its own line, `jwks_fetch`, counting JwksFetch): out of the way."""
    handler.lambda_handler(event(org_token(handler)), CONTEXT)
    assert [emf_metrics(line) for line in log_lines()] == [["JwksFetch"], ["Allow"]]


def emf_metrics(line: dict) -> list[str]:
    directives = (line.get("_aws") or {}).get("CloudWatchMetrics") or []
    return [m["Name"] for d in directives for m in d["Metrics"] if line.get(m["Name"]) == [1.0]]


@pytest.mark.parametrize(
    ("claims", "decision", "metric"), [({}, "allow", "Allow"), ({"exp": 1}, "unauthorized", "Unauthorized")]
)
def test_one_invocation_writes_one_line_that_is_also_its_metric(handler, log_lines, claims, decision, metric):  # noqa: F811
    warm(handler, log_lines)
    tok = org_token(handler, scope="member:read", **claims)
    try:
        handler.lambda_handler(event(tok), CONTEXT)
    except Exception as error:
        assert str(error) == "Unauthorized"
    lines = log_lines()
    assert len(lines) == 1, lines
    (line,) = lines
    assert line["message"] == "authorizer_decision" and line["decision"] == decision
    assert line["function_request_id"] == "req-1" and line["service"] == "authorizer" and line["level"] == "INFO"
    assert emf_metrics(line) == [metric]
    assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "LogtoOrgApi"
    assert line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert tok not in str(line)


def test_the_first_line_says_cold_start_and_the_next_ones_do_not(handler, log_lines):  # noqa: F811
    for _ in range(2):
        handler.lambda_handler(event(org_token(handler)), CONTEXT)
    decisions = [line for line in log_lines() if line["message"] == "authorizer_decision"]
    assert [line.get("cold_start") for line in decisions] == [True, None]


def test_no_metric_fields_when_metrics_are_disabled(handler, log_lines, monkeypatch):  # noqa: F811
    warm(handler, log_lines)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    handler.lambda_handler(event(org_token(handler)), CONTEXT)
    (line,) = log_lines()
    assert "_aws" not in line and "Allow" not in line and line["decision"] == "allow"


def test_the_trace_id_is_the_root_of_lambdas_trace_header(handler, log_lines, monkeypatch):  # noqa: F811
    warm(handler, log_lines)
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
    handler.lambda_handler(event(org_token(handler)), CONTEXT)
    (line,) = log_lines()
    assert line["xray_trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
