"""Each function runs as its own template role (issue 24): a copy of template.yaml with grants taken away, on its own
local stack, fails exactly where a deployed stack would, with the action named in the log. The session's `stack`
(the shipped template) passing every other e2e test proves today's grants suffice for what the tests do."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from local import harness
from local.harness import APP_PYTHON, ROOT, TOOLS_PYTHON
from tests.e2e.conftest import Stack
from tests.support.templates import template_copy, with_policies

SECRET_READ = """        - AWSSecretsManagerGetSecretValuePolicy:
            SecretArn: !If [CreateM2MSecret, !Ref M2MSecret, !Ref M2MSecretArn]
"""
# The audit trail's grants as the shipped template has them (kept where a test narrows something else).
AUDIT_WRITE = """        - Statement:
            - {Effect: Allow, Action: [dynamodb:PutItem, dynamodb:UpdateItem], Resource: !GetAtt AuditTable.Arn}
            - Effect: Allow
              Action: events:PutEvents
              Resource: !If
                - CreateEventBus
                - !GetAtt EventBus.Arn
                - !Sub "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}"
"""


def serve(data: Path, template: Path) -> harness.RunningStack:
    # Its roles are not the shipped template's: kept out of `make iam-report`'s usage (LOCAL_IAM_USAGE removed).
    env = {"LOCAL_TEMPLATE": str(template), "LOCAL_IAM_USAGE": ""}
    return harness.start(data, env=env, workers=1, args=["--cleanup-every", "0"])


@pytest.fixture(scope="module")
def narrowed(tmp_path_factory) -> Iterator[Stack]:
    """The shipped template, except: ListOrganizationsFunction reads no secret; CreateOrganizationFunction may only
    GetItem on the idempotency table (not PutItem); GetOrganizationFunction's secret read is denied explicitly."""
    text = (ROOT / "template.yaml").read_text()
    text = with_policies(text, "ListOrganizationsFunction", None)
    text = with_policies(
        text,
        "CreateOrganizationFunction",
        SECRET_READ
        + """        - DynamoDBCrudPolicy:
            TableName: !Ref CleanupTable
        - Statement:
            - Effect: Allow
              Action: dynamodb:GetItem
              Resource: !GetAtt IdempotencyTable.Arn
"""
        + AUDIT_WRITE,
    )
    text = with_policies(
        text,
        "GetOrganizationFunction",
        SECRET_READ
        + """        - Statement:
            - Effect: Deny
              Action: secretsmanager:Get*
              Resource: "*"
""",
    )
    folder = tmp_path_factory.mktemp("narrowed")
    try:
        running = serve(folder / "data", template_copy(folder / "template", text))
    except harness.StackFailed as failed:
        pytest.fail(f"the narrowed stack did not start: {failed}")
    stack = Stack(running.url, running.logto, requests.Session(), output=running.output)
    stack.data = running.data  # type: ignore[attr-defined]  # for make invoke
    stack.template = folder / "template" / "template.yaml"  # type: ignore[attr-defined]
    yield stack
    running.stop()


def denial(stack: Stack, function: str, action: str, since: int = 0) -> str:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        prefix = f"iam: AccessDenied {function} may not {action} "
        lines = [line for line in stack.output[since:] if line.startswith(prefix)]
        if lines:
            return lines[-1]
        time.sleep(0.05)
    raise AssertionError(f"no denial of {action} for {function} in the log:\n{''.join(stack.output[-20:])}")


def test_a_function_without_the_secret_grant_cannot_read_the_m2m_secret(narrowed):
    carol = narrowed.token("global_api", "carol")

    response = narrowed.call("GET", "/organizations", carol)

    assert response.status_code == 503 and response.json()["code"] == "m2m_credentials_unavailable"
    line = denial(narrowed, "ListOrganizationsFunction", "secretsmanager:GetSecretValue")
    assert ":secret:logto-org-api/local/m2m-" in line and "(M2MSecretArn)" in line
    assert "no statement of its role allows it" in line
    assert "Action: secretsmanager:GetSecretValue, Resource: !Ref M2MSecretArn" in line


def test_a_grant_of_another_action_on_the_table_is_no_grant_of_put_item(narrowed):
    carol = narrowed.token("global_api", "carol")

    response = narrowed.call(
        "POST", "/organizations", carol, json={"name": "Iam Co"}, headers={"Idempotency-Key": uuid.uuid4().hex}
    )

    assert response.status_code >= 500, response.text
    line = denial(narrowed, "CreateOrganizationFunction", "dynamodb:PutItem")
    assert "table/logto-org-api-local-idempotency (IdempotencyTable)" in line
    assert "Resource: !GetAtt IdempotencyTable.Arn" in line


def test_an_explicit_deny_wins_over_the_allow(narrowed):
    alice = narrowed.token("organization", "alice", "demo0org0001")

    response = narrowed.call("GET", "/organizations/demo0org0001", alice)

    assert response.status_code == 503
    line = denial(narrowed, "GetOrganizationFunction", "secretsmanager:GetSecretValue")
    assert "denied explicitly by Policies[1] Statement" in line


def test_make_invoke_runs_the_function_as_its_role_too(narrowed):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOCAL_TEMPLATE": str(narrowed.template)}
    env.pop("LOGTO_ENDPOINT", None)
    argv = [
        str(TOOLS_PYTHON),
        "-m",
        "local.invoke",
        "ListOrganizationsFunction",
        "--event",
        "events/list_organizations.json",
    ]
    argv += ["--app-python", str(APP_PYTHON), "--data", str(narrowed.data)]
    before = len(narrowed.output)

    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    assert json.loads(done.stdout)["statusCode"] == 503, done.stderr
    assert "m2m_secret_unreadable" in done.stderr  # the function's own handling of the SDK's AccessDeniedException
    denial(narrowed, "ListOrganizationsFunction", "secretsmanager:GetSecretValue", since=before)


def test_functions_whose_grants_were_kept_still_work(narrowed):
    alice = narrowed.token("organization", "alice", "demo0org0001")

    assert narrowed.call("GET", "/organizations/demo0org0001/members", alice).status_code == 200
    assert not [line for line in narrowed.output if "ListMembersFunction" in line and line.startswith("iam: ")]


def test_a_role_without_a_statement_for_a_table_its_environment_names_stops_make_local(tmp_path):
    text = with_policies((ROOT / "template.yaml").read_text(), "CreateOrganizationFunction", SECRET_READ + AUDIT_WRITE)
    with pytest.raises(harness.StackFailed) as failed:
        serve(tmp_path / "data", template_copy(tmp_path / "template", text)).stop()
    output = str(failed.value)
    assert "exit code 1" in output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: template.yaml: CreateOrganizationFunction: its environment names IdempotencyTable (IDEMPOTENCY_TABLE) "
        "but its role grants nothing on it; add a policy for it to CreateOrganizationFunction's Policies in template.yaml"
    ]
    assert "Traceback" not in output
