"""Each function runs as its own template role (issue 24): a copy of template.yaml with grants taken away, on its own
local stack, fails exactly where a deployed stack would, with the action named in the log. The session's `stack`
(the shipped template) passing every other e2e test proves today's grants suffice for what the tests do."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import APP_PYTHON, ROOT, TOOLS_PYTHON, Stack, _free_port
from tests.support.templates import template_copy, with_policies

SECRET_READ = """        - AWSSecretsManagerGetSecretValuePolicy:
            SecretArn: !If [CreateM2MSecret, !Ref M2MSecret, !Ref M2MSecretArn]
"""


def serve(data: Path, template: Path) -> subprocess.Popen:
    # Its roles are not the shipped template's: kept out of `make iam-report`'s usage.
    drop = ("LOGTO_ENDPOINT", "API_RESOURCE", "PORT", "LOCAL_IAM_USAGE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(PYTHONPATH=str(ROOT), LOCAL_TEMPLATE=str(template))
    argv = [str(TOOLS_PYTHON), "-m", "local.serve", "--app-python", str(APP_PYTHON), "--data", str(data)]
    argv += ["--port", str(_free_port()), "--reset", "--workers", "1", "--logto-port", "0"]
    argv += ["--console-port", str(_free_port()), "--cleanup-every", "0"]
    return subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )


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
""",
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
    data = folder / "data"
    proc = serve(data, template_copy(folder / "template", text))
    deadline = time.monotonic() + 90
    while True:
        try:
            info = json.loads((data / "run.json").read_text())  # may be seen half written: read it again then
            break
        except (OSError, ValueError):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"the narrowed stack did not start:\n{proc.stdout.read() if proc.stdout else ''}")
            time.sleep(0.1)
    stack = Stack(info["url"], info["logto"], requests.Session())
    stack.data = data  # type: ignore[attr-defined]  # for make invoke
    stack.template = folder / "template" / "template.yaml"  # type: ignore[attr-defined]

    def keep_output() -> None:
        for line in iter(proc.stdout.readline, ""):
            stack.output.append(line)

    threading.Thread(target=keep_output, daemon=True).start()
    yield stack
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


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
    text = with_policies((ROOT / "template.yaml").read_text(), "CreateOrganizationFunction", SECRET_READ)
    proc = serve(tmp_path / "data", template_copy(tmp_path / "template", text))
    try:
        output, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)

    assert proc.returncode == 1
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: template.yaml: CreateOrganizationFunction: its environment names IdempotencyTable (IDEMPOTENCY_TABLE) "
        "but its role grants nothing on it; add a policy for it to CreateOrganizationFunction's Policies in template.yaml"
    ]
    assert "Traceback" not in output
