"""Each function's role as SAM would create it, resolved for the local stack (local/roles.py, run in the tools
virtualenv where samtranslator lives): what `make local` enforces, and the one line it refuses to start with."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.templates import template_copy, with_policies

ROOT = Path(__file__).resolve().parents[2]
TOOLS_PYTHON = ROOT / ".venv-tools" / "bin" / "python"
SHIPPED = (ROOT / "template.yaml").read_text()
SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:logto-org-api/local/m2m-AbCdEf"


AUDIT_GRANT = """        - Statement:  # the audit entry and event the shipped template grants (kept: only the grant above is new)
            - {Effect: Allow, Action: [dynamodb:PutItem, dynamodb:UpdateItem], Resource: !GetAtt AuditTable.Arn}
            - {Effect: Allow, Action: events:PutEvents, Resource: !GetAtt EventBus.Arn}
"""


def roles(tmp_path: Path | None = None, text: str | None = None, *env: str) -> subprocess.CompletedProcess:
    if not TOOLS_PYTHON.exists():
        pytest.fail("needs .venv-tools (SAM CLI): run the tests with `make test`")
    argv = [str(TOOLS_PYTHON), "-m", "local.roles"]
    if text is not None:
        assert tmp_path is not None
        argv += ["--template", str(template_copy(tmp_path, text))]
    for item in env:
        argv += ["--env", item]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LOGTO_", "AWS_"))}
    return subprocess.run(
        argv, cwd=ROOT, env={**clean, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60
    )


def refusal(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 1, done.stdout[-500:]
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def test_every_function_gets_the_role_sam_would_create_resolved_to_the_local_resources():
    done = roles()
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert len(result["roles"]) == 23  # 22 routes' functions and the clean-up function
    assert result["roles"]["AuthorizerFunction"]["sources"] == [
        "managed policy AWSLambdaBasicExecutionRole",
        "managed policy AWSXrayWriteOnlyAccess",
    ]
    listing = result["roles"]["ListOrganizationsFunction"]
    assert {"Action": ["secretsmanager:GetSecretValue"], "Effect": "Allow", "Resource": SECRET} in listing["statements"]
    assert listing["sources"][-1] == "Policies[0] AWSSecretsManagerGetSecretValuePolicy"
    assert result["names"]["IdempotencyTable"] == {
        "ref": "logto-org-api-local-idempotency",
        "arn": "arn:aws:dynamodb:eu-west-1:123456789012:table/logto-org-api-local-idempotency",
    }


def test_any_policy_template_on_any_resource_resolves_when_the_local_stack_names_it(tmp_path):
    """What the audit and limits work adds (a bus, a table, SAM policy templates): nothing to teach the check."""
    text = SHIPPED.replace(
        "\n  ApiAccessLogGroup:\n",
        "\n  AuditBus:\n    Type: AWS::Events::EventBus\n    Properties:\n      Name: audit\n\n  ApiAccessLogGroup:\n",
    ).replace(
        "          POWERTOOLS_SERVICE_NAME: create_invitation\n",
        "          POWERTOOLS_SERVICE_NAME: create_invitation\n          AUDIT_BUS: !Ref AuditBus\n",
    )
    text = with_policies(
        text,
        "CreateInvitationFunction",
        "        - EventBridgePutEventsPolicy:\n            EventBusName: !Ref AuditBus\n"
        "        - DynamoDBReadPolicy:\n            TableName: !Ref IdempotencyTable\n" + AUDIT_GRANT,
    )
    done = roles(tmp_path, text, "AUDIT_BUS=logto-org-api-local-audit")
    assert done.returncode == 0, done.stderr
    statements = json.loads(done.stdout)["roles"]["CreateInvitationFunction"]["statements"]
    resources = json.dumps(statements)
    assert "arn:aws:events:eu-west-1:123456789012:event-bus/logto-org-api-local-audit" in resources
    assert "arn:aws:dynamodb:eu-west-1:123456789012:table/logto-org-api-local-idempotency/index/*" in resources


def test_a_resource_the_local_stack_has_no_name_for_is_refused(tmp_path):
    bus = "\n  AuditBus:\n    Type: AWS::Events::EventBus\n    Properties:\n      Name: a\n"
    text = SHIPPED.replace("\n  ApiAccessLogGroup:\n", bus + "\n  ApiAccessLogGroup:\n")
    text = with_policies(
        text, "ListRolesFunction", "        - EventBridgePutEventsPolicy:\n            EventBusName: !Ref AuditBus\n"
    )
    line = refusal(roles(tmp_path, text))
    assert line.startswith(
        "error: template.yaml: ListRolesFunction: AuditBus (AWS::Events::EventBus) has no name in the local stack"
    )


def test_a_policy_naming_a_resource_the_stack_does_not_have_is_refused(tmp_path):
    text = with_policies(
        SHIPPED, "ListRolesFunction", "        - DynamoDBReadPolicy:\n            TableName: !Ref NoSuchTable\n"
    )
    assert refusal(roles(tmp_path, text)) == (
        "error: template.yaml: ListRolesFunction: it names NoSuchTable, which template.yaml does not define"
    )


def test_a_template_sam_cannot_transform_is_refused_naming_the_function(tmp_path):
    text = with_policies(SHIPPED, "ListRolesFunction", "        - DynamoDBCrudPolicy: {}\n")
    line = refusal(roles(tmp_path, text))
    assert "SAM's transform refuses it" in line and "[ListRolesFunction]" in line and "TableName" in line


def test_a_condition_is_refused_not_ignored(tmp_path):
    text = with_policies(
        SHIPPED,
        "ListRolesFunction",
        """        - Statement:
            - Effect: Allow
              Action: secretsmanager:GetSecretValue
              Resource: "*"
              Condition: {StringEquals: {"aws:ResourceTag/app": "x"}}
""",
    )
    assert refusal(roles(tmp_path, text)).startswith(
        "error: template.yaml: ListRolesFunction: a Condition ({'StringEquals': {'aws:ResourceTag/app': 'x'}}) is not evaluated"
    )


def test_a_managed_policy_the_check_does_not_know_is_refused(tmp_path):
    text = with_policies(SHIPPED, "ListRolesFunction", "        - arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess\n")
    assert refusal(roles(tmp_path, text)) == (
        "error: template.yaml: ListRolesFunction: the managed policy arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess "
        "is not known to the local check (local/roles.py)"
    )


def test_a_grant_on_another_table_does_not_count_for_the_table_the_environment_names(tmp_path):
    text = with_policies(
        SHIPPED,
        "RemoveMemberFunction",
        """        - AWSSecretsManagerGetSecretValuePolicy:
            SecretArn: !Ref M2MSecretArn
        - DynamoDBCrudPolicy:
            TableName: !Ref CleanupTable
"""
        + AUDIT_GRANT,
    )
    assert refusal(roles(tmp_path, text)) == (
        "error: template.yaml: RemoveMemberFunction: its environment names IdempotencyTable (IDEMPOTENCY_TABLE) but "
        "its role grants nothing on it; add a policy for it to RemoveMemberFunction's Policies in template.yaml"
    )


AUDIT_TABLE = """
  AuditTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
"""


def test_a_sam_connector_grants_the_function_s_role_too(tmp_path):
    connector = """
  ListRolesWritesAudit:
    Type: AWS::Serverless::Connector
    Properties:
      Source: {Id: ListRolesFunction}
      Destination: {Id: AuditTable}
      Permissions: [Write]
"""
    text = SHIPPED.replace("\n  ApiAccessLogGroup:\n", AUDIT_TABLE + connector + "\n  ApiAccessLogGroup:\n").replace(
        "          POWERTOOLS_SERVICE_NAME: list_roles\n",
        "          POWERTOOLS_SERVICE_NAME: list_roles\n          AUDIT_TABLE: !Ref AuditTable\n",
    )
    done = roles(tmp_path, text, "AUDIT_TABLE=logto-org-api-local-audit")
    assert done.returncode == 0, done.stderr
    role = json.loads(done.stdout)["roles"]["ListRolesFunction"]
    granted = [
        s for s, src in zip(role["statements"], role["sources"], strict=True) if src == "ListRolesWritesAuditPolicy"
    ]
    assert any(
        "dynamodb:PutItem" in s["Action"]
        and "arn:aws:dynamodb:eu-west-1:123456789012:table/logto-org-api-local-audit" in s["Resource"]
        for s in granted
    ), role


def test_a_policy_under_a_false_condition_grants_nothing(tmp_path):
    text = SHIPPED.replace("\n  ApiAccessLogGroup:\n", AUDIT_TABLE + "\n  ApiAccessLogGroup:\n").replace(
        "          POWERTOOLS_SERVICE_NAME: list_roles\n",
        "          POWERTOOLS_SERVICE_NAME: list_roles\n          AUDIT_TABLE: !Ref AuditTable\n",
    )
    text = with_policies(
        text,
        "ListRolesFunction",
        "        - !If\n          - CreateM2MSecret\n          - DynamoDBWritePolicy: {TableName: !Ref AuditTable}\n"
        "          - !Ref AWS::NoValue\n",
    )
    # The local stack is given an M2MSecretArn, so CreateM2MSecret is false: no grant on the table its env names.
    assert refusal(roles(tmp_path, text, "AUDIT_TABLE=logto-org-api-local-audit")) == (
        "error: template.yaml: ListRolesFunction: its environment names AuditTable (AUDIT_TABLE) but its role grants "
        "nothing on it; add a policy for it to ListRolesFunction's Policies in template.yaml"
    )
