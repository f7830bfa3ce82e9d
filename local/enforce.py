"""The local AWS's front door: each function's request is checked against its own role (action AND resource) before
moto sees it, as IAM would check it before the service does.

moto itself evaluates IAM on the action only (every statement compared with resource `*`; ../shared/notes/aws.md §8),
so the whole decision is made here, with local/policy.py. A function's worker signs with the access key
`role-<LogicalId>` (local/roles.py); other keys (the stack's own seeding, tests inspecting tables) are the account's
administrator, as the deploying user would be. A refusal is what the SDK would get from the real service (botocore
raises ClientError with code AccessDeniedException, or AccessDenied on the query protocol), plus one log line naming
the function, the action, the resource and what in template.yaml would grant it.

Roles arrive with PUT /__local/iam (local.roles.install) once the stack has created its resources. With
LOCAL_IAM_USAGE=<file>, every (function, action, resource, decision) is appended to that file once, with the roles
in force, for `make iam-report`.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from typing import IO, Any

from local.policy import Decision, Statement, decide, parse_statement
from local.roles import ACCOUNT, PARTITION, ROLE_KEY_PREFIX

CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
NO_RESOURCE = "*"  # the actions IAM checks only against Resource "*" (ListTables, ...), or that can't be told here


class Request:
    def __init__(self, function: str, action: str, resources: list[str]):
        self.function, self.action, self.resources = function, action, resources


def _secret_arn(secret_id: str, region: str) -> str:
    """IAM checks a secret's full ARN however the caller names it (name, full or partial ARN)."""
    from moto.secretsmanager.models import secretsmanager_backends

    secret = secretsmanager_backends[ACCOUNT][region].secrets.get(secret_id)
    if secret is not None:
        return str(secret.arn)
    return (
        secret_id
        if secret_id.startswith("arn:")
        else f"arn:{PARTITION}:secretsmanager:{region}:{ACCOUNT}:secret:{secret_id}"
    )


def _arn(service: str, region: str, resource: str) -> str:
    return resource if resource.startswith("arn:") else f"arn:{PARTITION}:{service}:{region}:{ACCOUNT}:{resource}"


def resources_of(service: str, operation: str, body: dict[str, Any], region: str) -> list[str]:
    """The ARNs IAM would check for one call (what the service's authorization reference lists as its resource)."""
    if service == "dynamodb":
        tables: list[str] = []
        if "TableName" in body:
            table = _arn("dynamodb", region, f"table/{body['TableName']}")
            index = body.get("IndexName")
            tables.append(f"{table}/index/{index}" if index and operation in ("Query", "Scan") else table)
        tables += [_arn("dynamodb", region, f"table/{t}") for t in body.get("RequestItems") or {}]
        for item in (body.get("TransactItems") or []) if isinstance(body.get("TransactItems"), list) else []:
            for part in item.values() if isinstance(item, dict) else []:
                if isinstance(part, dict) and "TableName" in part:
                    tables.append(_arn("dynamodb", region, f"table/{part['TableName']}"))
        return list(dict.fromkeys(tables)) or [NO_RESOURCE]
    if service == "secretsmanager":
        secret = body.get("SecretId") or body.get("Name")
        return [_secret_arn(secret, region)] if isinstance(secret, str) else [NO_RESOURCE]
    if service == "events":
        if operation == "PutEvents":
            buses = [e.get("EventBusName") or "default" for e in body.get("Entries") or [] if isinstance(e, dict)]
            return list(dict.fromkeys(_arn("events", region, f"event-bus/{b}") for b in buses)) or [NO_RESOURCE]
        bus = body.get("EventBusName") or (body.get("Name") if "EventBus" in operation else None)
        return [_arn("events", region, f"event-bus/{bus}")] if isinstance(bus, str) else [NO_RESOURCE]
    if service == "sqs" and isinstance(body.get("QueueUrl"), str):
        return [_arn("sqs", region, body["QueueUrl"].rstrip("/").rsplit("/", 1)[-1])]
    if service == "sns" and isinstance(body.get("TopicArn"), str):
        return [body["TopicArn"]]
    if service == "kms" and isinstance(body.get("KeyId"), str):
        return [_arn("kms", region, f"key/{body['KeyId']}")]
    return [NO_RESOURCE]


def describe(environ: dict[str, Any], body: bytes) -> tuple[str, str, str, list[str]] | None:
    """(access key, region, action, resources) of a signed request, or None when it is not signed with a key."""
    found = CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not found:
        return None
    key, region, service = found.groups()
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    fields: dict[str, Any] = {}
    if target:  # the JSON protocols: DynamoDB_20120810.PutItem, secretsmanager.GetSecretValue, AWSEvents.PutEvents
        operation = target.rsplit(".", 1)[-1]
        try:
            parsed = json.loads(body or b"{}")
            fields = parsed if isinstance(parsed, dict) else {}
        except ValueError:
            fields = {}
    elif "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):  # the query protocol: Action=Publish
        fields = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
        operation = fields.get("Action", "")
    else:
        operation = ""
    if not operation:
        return key, region, f"{service}:?", [NO_RESOURCE]  # a REST protocol: refused below, loudly
    return key, region, f"{service}:{operation}", resources_of(service, operation, fields, region)


class IamFrontDoor:
    def __init__(self, app: Callable[..., Iterable[bytes]], usage_path: str | None = None, log: IO[str] | None = None):
        self.app, self.log = app, log or sys.stdout
        self.roles: dict[str, list[Statement]] = {}
        self.names: dict[str, dict[str, Any]] = {}
        self.usage_path = usage_path
        self.stack = uuid.uuid4().hex[:8]
        self._seen: set[tuple[str, str, str, str]] = set()
        self._lock = threading.Lock()

    def install(self, payload: dict[str, Any]) -> None:
        roles = {}
        for function, role in payload["roles"].items():
            roles[function] = [
                parse_statement(s, src) for s, src in zip(role["statements"], role["sources"], strict=True)
            ]
        self.roles, self.names = roles, payload.get("names") or {}
        self._record({"install": payload})

    def _record(self, line: dict[str, Any]) -> None:
        if not self.usage_path:
            return
        with self._lock, open(self.usage_path, "a") as usage:
            usage.write(json.dumps({"stack": self.stack, **line}) + "\n")

    def _used(self, function: str, action: str, resource: str, decision: Decision) -> None:
        key = (function, action, resource, decision.effect)
        if key in self._seen:
            return
        self._seen.add(key)
        self._record({"function": function, "action": action, "resource": resource, "effect": decision.effect})

    def reference(self, resource: str) -> str:
        """How template.yaml would name this resource: !GetAtt IdempotencyTable.Arn, !Ref M2MSecretArn, or the ARN."""
        for logical, name in self.names.items():
            arn = name.get("arn")
            if not arn:
                continue
            is_parameter = arn == name.get("ref")
            if resource == arn:
                return f"!Ref {logical}" if is_parameter else f"!GetAtt {logical}.Arn"
            if resource.startswith(arn + "/"):
                return f'!Sub "${{{logical}.Arn}}{resource[len(arn) :]}"'
        return resource

    def explain(self, function: str, action: str, resource: str, decision: Decision) -> str:
        where = self.reference(resource)
        shown = resource if where == resource else f"{resource} ({where.split()[-1].split('.')[0].strip('${')})"
        head = f"iam: AccessDenied {function} may not {action} on {shown}"
        if action.endswith(":?"):
            return f"{head}: the local check cannot tell which action this request is (add its protocol to local/enforce.py)"
        if function not in self.roles:
            return f"{head}: no role for {function} was installed in the local AWS"
        if decision.effect == "explicit_deny" and decision.statement is not None:
            return f"{head}: denied explicitly by {decision.statement.source} of its role in template.yaml"
        resource_ref = "'*'" if resource == NO_RESOURCE else where
        return (
            f"{head}: no statement of its role allows it; template.yaml would grant it with, under "
            f"{function} Properties.Policies: - Statement: [{{Effect: Allow, Action: {action}, Resource: {resource_ref}}}]"
        )

    def deny(self, start_response: Callable[..., Any], environ: dict[str, Any], message: str) -> list[bytes]:
        request_id = str(uuid.uuid4())
        if environ.get("HTTP_X_AMZ_TARGET"):
            content_type = environ.get("CONTENT_TYPE") or "application/x-amz-json-1.0"
            body = json.dumps({"__type": "com.amazon.coral.service#AccessDeniedException", "Message": message})
            start_response("400 Bad Request", [("Content-Type", content_type), ("x-amzn-RequestId", request_id)])
            return [body.encode()]
        xml = (
            "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
            f"<Message>{message.replace('&', '&amp;').replace('<', '&lt;')}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        start_response("403 Forbidden", [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)])
        return [xml.encode()]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/__local/iam" and environ.get("REQUEST_METHOD") == "PUT":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            self.install(json.loads(environ["wsgi.input"].read(length)))
            start_response("204 No Content", [])
            return [b""]
        if ROLE_KEY_PREFIX not in environ.get("HTTP_AUTHORIZATION", ""):
            return self.app(environ, start_response)  # not a function: the account's administrator
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        described = describe(environ, body)
        if described is None or not described[0].startswith(ROLE_KEY_PREFIX):
            return self.app(environ, start_response)
        key, _region, action, resources = described
        function = key.removeprefix(ROLE_KEY_PREFIX)
        statements = self.roles.get(function)
        for resource in resources:
            decision = (
                decide(statements, action, resource)
                if statements and not action.endswith(":?")
                else Decision("implicit_deny")
            )
            self._used(function, action, resource, decision)
            if not decision.allowed:
                print(self.explain(function, action, resource, decision), file=self.log, flush=True)
                verdict = "with an explicit deny in" if decision.effect == "explicit_deny" else "because no"
                role = f"arn:{PARTITION}:sts::{ACCOUNT}:assumed-role/{function}Role/{function}"
                message = (
                    f"User: {role} is not authorized to perform: {action} on resource: {resource} {verdict} "
                    f"{'an ' if verdict.startswith('with') else ''}identity-based policy"
                    f"{' allows the ' + action + ' action' if verdict == 'because no' else ''}"
                )
                return self.deny(start_response, environ, message)
        return self.app(environ, start_response)


def front_door(app: Callable[..., Iterable[bytes]]) -> IamFrontDoor:
    return IamFrontDoor(app, usage_path=os.environ.get("LOCAL_IAM_USAGE") or None)
