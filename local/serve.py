"""`make local`: the API from template.yaml on http://127.0.0.1:$PORT, with API Gateway semantics and no Docker.

Starts a local Secrets Manager + DynamoDB (moto server), the Logto stand-in (unless LOGTO_ENDPOINT is set), and SAM
CLI's API Gateway emulator with warm subprocess workers per function. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from local.lifeline import follow_parent

ROOT = Path(__file__).resolve().parent.parent
SECRET_NAME = "logto-org-api/local/m2m"
IDEMPOTENCY_TABLE = "logto-org-api-local-idempotency"
DEFAULT_API_RESOURCE = "https://api.example.com/org"
REGION = "eu-west-1"


class StartupError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_port_free(port: int) -> None:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise StartupError(f"port {port} is already in use; choose another with PORT=<port> make local") from None


def wait_http(url: str, proc: subprocess.Popen | None, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StartupError(f"{what} exited during start-up (see .local/logs/)")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except Exception:
            time.sleep(0.1)
    raise StartupError(f"{what} did not start within {timeout:.0f} s")


def template_settings(template: Path, parameters: dict[str, str]) -> tuple[dict[str, int], dict[str, Any]]:
    """The authorizer cache TTLs (ReauthorizeEvery) and GatewayResponses, which SAM's emulator ignores."""
    from samcli.yamlhelper import yaml_parse

    doc = yaml_parse(template.read_text())
    defaults = {k: str(v.get("Default", "")) for k, v in (doc.get("Parameters") or {}).items()}

    def resolve(value: Any) -> Any:
        if isinstance(value, dict) and "Ref" in value:
            return parameters.get(value["Ref"], defaults.get(value["Ref"]))
        return value

    ttls: dict[str, int] = {}
    responses: dict[str, Any] = {}
    for resource in (doc.get("Resources") or {}).values():
        if resource.get("Type") != "AWS::Serverless::Api":
            continue
        props = resource.get("Properties") or {}
        for name, spec in ((props.get("Auth") or {}).get("Authorizers") or {}).items():
            ttls[name] = int(resolve((spec.get("Identity") or {}).get("ReauthorizeEvery", 300)) or 0)
        responses.update(props.get("GatewayResponses") or {})
    return ttls, responses


class LocalStack:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.children: list[subprocess.Popen] = []
        self.runtime: Any = None
        self.data = Path(args.data).resolve()
        self.data.mkdir(parents=True, exist_ok=True)
        (self.data / "logs").mkdir(exist_ok=True)
        self.log = open(self.data / "logs" / "local.log", "a", buffering=1)  # noqa: SIM115 - closed in stop()

    def spawn(self, *argv: str, show: str | None = None) -> subprocess.Popen:
        """Start a child with its output in local.log; lines starting with `show` are printed here as well."""
        proc = subprocess.Popen(
            list(argv),
            cwd=ROOT,
            stdout=subprocess.PIPE if show else self.log,
            stderr=self.log,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
            text=bool(show),
        )
        if show:
            threading.Thread(target=self._relay, args=(proc, show), daemon=True).start()
        self.children.append(proc)
        return proc

    def _relay(self, proc: subprocess.Popen, show: str) -> None:
        for line in proc.stdout or ():
            if not self.log.closed:
                self.log.write(line)
            if line.startswith(show):
                print(line, end="", flush=True)

    def start_moto(self) -> str:
        port = free_port()
        proc = self.spawn(self.args.app_python, "-m", "local.aws", "--port", str(port))
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/moto-api/", proc, "the local AWS (moto server)")
        return url

    def seed_aws(self, aws_url: str, app_id: str, app_secret: str) -> None:
        import boto3

        options = {
            "endpoint_url": aws_url,
            "region_name": REGION,
            "aws_access_key_id": "local",
            "aws_secret_access_key": "local",
        }
        boto3.client("secretsmanager", **options).create_secret(
            Name=SECRET_NAME, SecretString=json.dumps({"appId": app_id, "appSecret": app_secret})
        )
        dynamodb = boto3.client("dynamodb", **options)
        dynamodb.create_table(
            TableName=IDEMPOTENCY_TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        )
        dynamodb.update_time_to_live(
            TableName=IDEMPOTENCY_TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"}
        )

    def start_logto(self, api_resource: str) -> tuple[str, str, str]:
        from local.logto.credentials import M2M_APP_ID, M2M_APP_SECRET

        port = self.args.logto_port or free_port()
        argv = [
            self.args.app_python,
            "-m",
            "local.logto.server",
            "--port",
            str(port),
            "--data",
            str(self.data),
            "--api-resource",
            api_resource,
        ]
        if self.args.reset:
            argv.append("--reset")
        proc = self.spawn(*argv, show="invitation e-mail to ")  # what the stand-in would have e-mailed
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/oidc/jwks", proc, "the Logto stand-in")
        return url, M2M_APP_ID, M2M_APP_SECRET

    def build_gateway(self, env: dict[str, str], aws_url: str) -> Any:
        from samcli.commands.local.lib.local_lambda import LocalLambdaRunner
        from samcli.lib.providers.api_provider import ApiProvider
        from samcli.lib.providers.sam_function_provider import SamFunctionProvider
        from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

        from local.gateway import FaithfulApigwService
        from local.runtime import SubprocessRuntime

        template = ROOT / "template.yaml"
        parameters = {
            "LogtoEndpoint": env["LOGTO_ENDPOINT"],
            "ApiResource": env["API_RESOURCE"],
            "M2MSecretArn": SECRET_NAME,
            "ReauthorizeEvery": str(self.args.reauthorize_every),
            "CreatorRole": env["CREATOR_ROLE"],
        }
        stacks, _ = SamLocalStackProvider.get_stacks(str(template), parameter_overrides=parameters)
        log = None if self.args.verbose else open(self.data / "logs" / "functions.log", "a", buffering=1)  # noqa: SIM115
        self.runtime = SubprocessRuntime(
            self.args.app_python,
            extra_env={
                "AWS_ENDPOINT_URL": aws_url,
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_SAM_LOCAL": "true",
            },
            max_workers=self.args.workers,
            log=log,
        )

        class LocalRunner(LocalLambdaRunner):
            def get_aws_creds(self) -> dict[str, str]:
                # SAM builds a boto3 session per invocation when no credentials are configured (~19 ms each); the
                # functions talk to the local moto server with fixed fake credentials anyway.
                return {"region": REGION, "key": "local", "secret": "local"}

        runner = LocalRunner(
            local_runtime=self.runtime,
            function_provider=SamFunctionProvider(stacks),
            cwd=str(ROOT),
            real_path=str(ROOT),
            aws_region=REGION,
            env_vars_values={"Parameters": env},
        )
        ttls, responses = template_settings(template, parameters)
        service = FaithfulApigwService(
            api=ApiProvider(stacks, cwd=str(ROOT)).api,
            lambda_runner=runner,
            port=self.args.port,
            host="127.0.0.1",
            stderr=None,
            gateway_responses=responses,
            authorizer_ttls=ttls,
        )
        service.create()
        return service

    def stop(self) -> None:
        if self.runtime:
            self.runtime.stop()
        for proc in self.children:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.children:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.log.close()


def local_invitation_link(external: bool) -> str:
    """INVITATION_LINK from the environment; with the stand-in it defaults to a local link, so every invitation
    made on `make local` is "e-mailed" (the stand-in's outbox, /__dev/outbox). INVITATION_LINK= turns it off."""
    configured = os.environ.get("INVITATION_LINK")
    if configured is not None or external:
        return configured or ""
    return f"http://127.0.0.1:{os.environ.get('CONSOLE_PORT', '3001')}/invite/{{invitationId}}"


def function_env(logto_url: str, api_resource: str, external: bool = False) -> dict[str, str]:
    env = {
        "LOGTO_ENDPOINT": logto_url,
        "LOGTO_ISSUER": os.environ.get("LOGTO_ISSUER", ""),
        "LOGTO_MANAGEMENT_API_RESOURCE": os.environ.get("LOGTO_MANAGEMENT_API_RESOURCE", ""),
        "API_RESOURCE": api_resource,
        "M2M_SECRET_ID": SECRET_NAME,  # the credentials live in the local Secrets Manager, never in function env
        "CREATOR_ROLE": os.environ.get("CREATOR_ROLE") or "admin",
        "PERMISSION_OVERRIDES": os.environ.get("PERMISSION_OVERRIDES", ""),
        "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
        "LIVE_PERMISSIONS": os.environ.get("LIVE_PERMISSIONS", "writes"),
        "INVITATION_LINK": local_invitation_link(external),
    }
    return env


def banner(url: str, logto_url: str, external: bool) -> str:
    lines = [f"Logto organization API (local) listening on {url}", ""]
    if external:
        lines += [f"Using your Logto at {logto_url}. Get tokens from your app; requests go to your tenant."]
    else:
        lines += [
            f"Logto stand-in on {logto_url} (state in .local/, `make local RESET=1` starts fresh)",
            "Seeded users: alice (admin of demo0org0001), bob (member of demo0org0001), carol (no organization),",
            "              dave (may not create organizations; invited to demo0org0001: demo0invite1),",
            "              erin (no primary e-mail).",
            f"Invitation e-mails are printed here and kept at {logto_url}/__dev/outbox.",
            "",
            "Try it:",
            f"  curl -s {url}/health",
            "  TOKEN=$(make -s token KIND=org AS=alice ORG=demo0org0001)",
            f'  curl -s -H "Authorization: Bearer $TOKEN" {url}/organizations/demo0org0001/members',
            "  TOKEN=$(make -s token KIND=global AS=carol)",
            f'  curl -s -X POST -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" '
            f'-d \'{{"name":"Carol Co"}}\' {url}/organizations',
        ]
    lines += ["", "Function logs: .local/logs/functions.log   Ctrl-C stops everything."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    parser.add_argument("--app-python", default=str(ROOT / ".venv" / "bin" / "python"))
    parser.add_argument("--logto-port", type=int, default=int(os.environ.get("LOGTO_PORT", "0")))
    parser.add_argument("--reauthorize-every", type=int, default=int(os.environ.get("REAUTHORIZE_EVERY", "300")))
    parser.add_argument("--workers", type=int, default=4, help="warm workers per function (Lambda concurrency)")
    parser.add_argument("--reset", action="store_true", help="start the Logto stand-in from its seed")
    parser.add_argument("--verbose", action="store_true", help="function logs to the terminal")
    parser.add_argument("--data", default=str(ROOT / ".local"), help="state and logs folder")
    args = parser.parse_args()
    args.app_python = os.path.abspath(args.app_python)  # workers run with the function folder as cwd

    stack = LocalStack(args)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in the background with SIGINT ignored
    follow_parent()  # `make local` killed without a Ctrl-C to its process group: shut down all the same
    try:
        ensure_port_free(args.port)
        if not Path(args.app_python).exists():
            raise StartupError(f"{args.app_python} not found; run `make venv` first")
        external = bool(os.environ.get("LOGTO_ENDPOINT"))
        api_resource = os.environ.get("API_RESOURCE") or DEFAULT_API_RESOURCE
        if external:
            missing = [v for v in ("LOGTO_M2M_APP_ID", "LOGTO_M2M_APP_SECRET", "API_RESOURCE") if not os.environ.get(v)]
            if missing:
                raise StartupError(f"LOGTO_ENDPOINT is set, so {', '.join(missing)} must be set too")
            logto_url = os.environ["LOGTO_ENDPOINT"].rstrip("/")
            app_id, app_secret = os.environ["LOGTO_M2M_APP_ID"], os.environ["LOGTO_M2M_APP_SECRET"]
        else:
            logto_url, app_id, app_secret = stack.start_logto(api_resource)
        aws_url = stack.start_moto()
        stack.seed_aws(aws_url, app_id, app_secret)
        env = function_env(logto_url, api_resource, external)
        service = stack.build_gateway(env, aws_url)
        from werkzeug.serving import make_server

        server = make_server("127.0.0.1", args.port, service._app, threaded=True)
        url = f"http://127.0.0.1:{args.port}"
        (stack.data / "run.json").write_text(
            json.dumps({"url": url, "logto": logto_url, "external": external, "apiResource": api_resource})
        )
        print(banner(url, logto_url, external), flush=True)
        server.serve_forever()
    except StartupError as error:
        print(f"error: {error}", file=sys.stderr)
        stack.stop()
        sys.exit(1)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
