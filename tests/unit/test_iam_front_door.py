"""The local AWS's front door (local/enforce.py) in front of a real moto server: what a function's SDK gets back when
its role does not allow a call, and the one log line saying what would."""

from __future__ import annotations

import io
import json
import threading

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from local.enforce import IamFrontDoor
from local.roles import role_credentials

REGION = "eu-west-1"
ACCOUNT = "123456789012"
ORDERS = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders"


@pytest.fixture(scope="module")
def aws():
    log = io.StringIO()
    door = IamFrontDoor(DomainDispatcherApplication(create_backend_app), log=log)
    server = make_server("127.0.0.1", 0, door, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    admin = {"endpoint_url": url, "region_name": REGION, "aws_access_key_id": "local", "aws_secret_access_key": "x"}
    dynamodb = boto3.client("dynamodb", **admin)
    for table in ("orders", "audit"):
        dynamodb.create_table(
            TableName=table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        )
    secret = boto3.client("secretsmanager", **admin).create_secret(Name="app/m2m", SecretString="{}")["ARN"]
    door.install(
        {
            "roles": {
                "OrdersFunction": {
                    "statements": [
                        {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": ORDERS},
                        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret},
                        {"Effect": "Deny", "Action": "dynamodb:PutItem", "Resource": ORDERS, "Sid": "frozen"},
                    ],
                    "sources": [
                        "Policies[0] Statement",
                        "Policies[1] AWSSecretsManagerGetSecretValuePolicy",
                        "Policies[2] Statement",
                    ],
                },
                "NothingFunction": {"statements": [], "sources": []},
            },
            "names": {"OrdersTable": {"ref": "orders", "arn": ORDERS}, "M2MSecretArn": {"ref": secret, "arn": secret}},
        }
    )

    def client(service: str, function: str | None = None):
        keys = role_credentials(function) if function else {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "x"}
        return boto3.client(
            service,
            endpoint_url=url,
            region_name=REGION,
            aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
        )

    yield client, log
    server.shutdown()


def last_line(log: io.StringIO) -> str:
    return log.getvalue().splitlines()[-1]


def test_what_the_role_allows_goes_through(aws):
    client, _ = aws
    assert "Item" not in client("dynamodb", "OrdersFunction").get_item(TableName="orders", Key={"id": {"S": "1"}})
    # by name, as the functions name it: IAM checks the secret's full ARN all the same
    assert client("secretsmanager", "OrdersFunction").get_secret_value(SecretId="app/m2m")["SecretString"] == "{}"


def test_another_table_is_refused_as_the_sdk_would_see_it_deployed(aws):
    client, log = aws
    with pytest.raises(ClientError) as caught:
        client("dynamodb", "OrdersFunction").get_item(TableName="audit", Key={"id": {"S": "1"}})

    error = caught.value.response
    assert error["Error"]["Code"] == "AccessDeniedException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Error"]["Message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/OrdersFunctionRole/OrdersFunction is not authorized to perform: "
        f"dynamodb:GetItem on resource: arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/audit because no identity-based "
        "policy allows the dynamodb:GetItem action"
    )
    assert last_line(log) == (
        f"iam: AccessDenied OrdersFunction may not dynamodb:GetItem on arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/audit: "
        "no statement of its role allows it; template.yaml would grant it with, under OrdersFunction "
        "Properties.Policies: - Statement: [{Effect: Allow, Action: dynamodb:GetItem, "
        f"Resource: arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/audit}}]"
    )


def test_an_action_the_role_lacks_is_refused_and_the_log_names_the_template_resource(aws):
    client, log = aws
    with pytest.raises(ClientError, match="AccessDeniedException"):
        client("dynamodb", "OrdersFunction").delete_item(TableName="orders", Key={"id": {"S": "1"}})
    assert f"may not dynamodb:DeleteItem on {ORDERS} (OrdersTable)" in last_line(log)
    assert "Resource: !GetAtt OrdersTable.Arn}]" in last_line(log)


def test_an_explicit_deny_is_named_by_its_place_in_the_template(aws):
    client, log = aws
    with pytest.raises(ClientError) as caught:
        client("dynamodb", "OrdersFunction").put_item(TableName="orders", Item={"id": {"S": "1"}})
    assert "with an explicit deny in an identity-based policy" in caught.value.response["Error"]["Message"]
    assert last_line(log).endswith("denied explicitly by Policies[2] Statement of its role in template.yaml")


def test_batch_and_transaction_calls_are_checked_on_every_table_they_touch(aws):
    client, log = aws
    with pytest.raises(ClientError, match="AccessDeniedException"):
        client("dynamodb", "OrdersFunction").batch_get_item(
            RequestItems={"orders": {"Keys": [{"id": {"S": "1"}}]}, "audit": {"Keys": [{"id": {"S": "1"}}]}}
        )
    assert "dynamodb:BatchGetItem on arn:aws:dynamodb:eu-west-1:123456789012:table/orders" in last_line(log)


def test_a_function_with_no_grant_gets_nothing_and_the_stack_s_own_key_everything(aws):
    client, log = aws
    with pytest.raises(ClientError, match="AccessDeniedException"):
        client("secretsmanager", "NothingFunction").get_secret_value(SecretId="app/m2m")
    assert "Resource: !Ref M2MSecretArn}]" in last_line(log)
    assert client("dynamodb").scan(TableName="audit")["Count"] == 0  # the stack's seeding key: the administrator


def test_a_function_whose_role_was_never_installed_is_refused(aws):
    client, log = aws
    with pytest.raises(ClientError, match="AccessDeniedException"):
        client("dynamodb", "StrangerFunction").scan(TableName="orders")
    assert last_line(log).endswith("no role for StrangerFunction was installed in the local AWS")


def test_a_request_whose_action_cannot_be_told_is_refused_not_waved_through(aws):
    client, log = aws
    with pytest.raises(ClientError) as caught:
        client("s3", "OrdersFunction").list_buckets()  # REST protocol: no X-Amz-Target, no Action=
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "cannot tell which action this request is" in last_line(log)


def test_usage_is_recorded_once_per_call_kind_with_the_roles(tmp_path):
    usage = tmp_path / "usage.jsonl"
    door = IamFrontDoor(lambda environ, start: [b""], usage_path=str(usage))
    door.install({"roles": {"F": {"statements": [], "sources": []}}, "names": {}})
    environ = {
        "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=role-F/20261206/eu-west-1/dynamodb/aws4_request, ...",
        "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.GetItem",
        "CONTENT_LENGTH": "20",
        "REQUEST_METHOD": "POST",
    }
    for _ in range(3):
        door({**environ, "wsgi.input": io.BytesIO(b'{"TableName": "t"}  ')}, lambda *a: None)
    lines = [json.loads(line) for line in usage.read_text().splitlines()]
    assert [sorted(line) for line in lines] == [
        ["install", "stack"],
        ["action", "effect", "function", "resource", "stack"],
    ]
    assert lines[1]["action"] == "dynamodb:GetItem" and lines[1]["effect"] == "implicit_deny"


def test_each_worker_signs_as_its_own_function_s_role_not_the_shared_local_key():
    from types import SimpleNamespace

    from local.runtime import SubprocessRuntime

    shared = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_ENDPOINT_URL": "http://127.0.0.1:1"}
    runtime = SubprocessRuntime("python", extra_env=shared, function_env=role_credentials)
    config = SimpleNamespace(name="ListMembersFunction", env_vars=SimpleNamespace(resolve=lambda: {}))

    env = runtime._env(config)

    assert env["AWS_ACCESS_KEY_ID"] == "role-ListMembersFunction"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"
