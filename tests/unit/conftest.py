"""Fixtures for handler tests in-process: the Logto stand-in over loopback, Secrets Manager and DynamoDB in moto,
and each function's app.py loaded fresh with settings pointing at them."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from local.audit_resources import create_audit_resources
from local.logto.credentials import M2M_APP_ID, M2M_APP_SECRET
from tests.support.logto_double import LogtoDouble
from tests.support.logto_standin import InProcessLogto

ROOT = Path(__file__).resolve().parents[2]


class Context:
    function_name = "test"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:test"
    aws_request_id = "req"

    def get_remaining_time_in_millis(self):
        return 10_000


@pytest.fixture
def logto(tmp_path):
    server = InProcessLogto(tmp_path, "https://api.example.com/org")
    yield server
    server.close()


@pytest.fixture
def aws(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        sm = boto3.client("secretsmanager", region_name="eu-west-1")
        sm.create_secret(Name="m2m", SecretString=json.dumps({"appId": M2M_APP_ID, "appSecret": M2M_APP_SECRET}))
        ddb = boto3.client("dynamodb", region_name="eu-west-1")
        for table in ("idem", "cleanups"):
            ddb.create_table(
                TableName=table,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            )
        events = boto3.client("events", region_name="eu-west-1")
        create_audit_resources(ddb, events, "audit", "changes")
        # A consumer of the change events: a rule on the bus delivering every orgapi event to a queue.
        sqs = boto3.client("sqs", region_name="eu-west-1")
        queue = sqs.create_queue(QueueName="consumer")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="all", EventBusName="changes", EventPattern=json.dumps({"source": ["orgapi"]}))
        events.put_targets(Rule="all", EventBusName="changes", Targets=[{"Id": "consumer", "Arn": arn}])
        yield SimpleNamespace(secrets=sm, dynamodb=ddb, events=events, sqs=sqs, queue=queue)


@pytest.fixture
def handlers(logto, aws, monkeypatch):
    """Load functions/<name>/app.py fresh for each test, with settings pointing at the stand-in."""
    from aws_lambda_powertools.utilities import parameters

    from orgapi import operations
    from orgapi.operations import organizations, services

    monkeypatch.setenv("LOGTO_ENDPOINT", logto.url)
    monkeypatch.setenv("API_RESOURCE", "https://api.example.com/org")
    monkeypatch.setenv("M2M_SECRET_ID", "m2m")
    monkeypatch.setenv("IDEMPOTENCY_TABLE", "idem")
    monkeypatch.setenv("INVITATION_LINK", "https://app.example.com/invite/{invitationId}?via=mail")
    monkeypatch.setenv("CLEANUP_TABLE", "cleanups")
    monkeypatch.setenv("AUDIT_TABLE", "audit")
    monkeypatch.setenv("EVENT_BUS_NAME", "changes")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    parameters.clear_caches()
    services.services.cache_clear()
    organizations._idempotency.cache_clear()
    loaded = {}

    def load(name):
        if name not in loaded:
            spec = importlib.util.spec_from_file_location(f"fn_{name}", ROOT / "functions" / name / "app.py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            loaded[name] = module.lambda_handler
        return loaded[name]

    yield load
    services.services.cache_clear()
    assert operations  # keep the import used


@pytest.fixture
def double():
    """A Logto double on a loopback port (tests/support/logto_double.py): answers what the test registers."""
    server = LogtoDouble()
    yield server
    server.close()
    assert not server.unmatched, [f"{r.method} {r.path}" for r in server.unmatched]
