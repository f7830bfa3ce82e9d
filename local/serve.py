"""`make local`: the API from template.yaml on http://127.0.0.1:$PORT, with API Gateway semantics and no Docker.

Starts a local Secrets Manager + DynamoDB (moto server), the Logto stand-in (unless LOGTO_ENDPOINT is set), and SAM
CLI's API Gateway emulator with warm subprocess workers per function. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from local.lifeline import follow_parent
from local.logto.credentials import SEEDED_PASSWORD

if TYPE_CHECKING:
    from local.gateway import Preflight

ROOT = Path(__file__).resolve().parent.parent
SECRET_NAME = "logto-org-api/local/m2m"
IDEMPOTENCY_TABLE = "logto-org-api-local-idempotency"
CLEANUP_TABLE = "logto-org-api-local-cleanups"
AUDIT_TABLE = "logto-org-api-local-audit"
EVENT_BUS = "logto-org-api-local-changes"
DEFAULT_API_RESOURCE = "https://api.example.com/org"
REGION = "eu-west-1"


DEFAULT_LOGTO_PORT = 3002  # fixed, so the stand-in's issuer (and every token minted from it) survives a restart
TRUE_WORDS, FALSE_WORDS = ("1", "yes", "true", "on"), ("", "0", "no", "false", "off")


class StartupError(Exception):
    pass


def number(variable: str, low: float, high: float, kind: type = int) -> Any:
    """An argparse type for a numeric setting (PORT=abc): one line naming the variable, never a traceback."""

    def parse(value: str) -> Any:
        try:
            parsed = kind(value)
        except ValueError:
            parsed = None
        if parsed is None or not low <= parsed <= high:
            described = "a port number" if variable.endswith("PORT") else "a number of seconds"
            raise argparse.ArgumentTypeError(f"{variable} must be {described} ({low:g}-{high:g}), got {value!r}")
        return parsed

    return parse


def yes_no(value: str) -> bool:
    """A make-style switch (RESET=1, VERBOSE=no): the usual words for yes and no; anything else is an error, never a
    silent yes (RESET=0 must not wipe the state)."""
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f"expected one of {', '.join(TRUE_WORDS + FALSE_WORDS[1:])}, got {value!r}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_port_free(port: int, variable: str = "PORT") -> None:
    with socket.socket() as s:
        # As the servers bind (werkzeug sets SO_REUSEADDR): a connection of the last run in TIME_WAIT is no conflict.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise StartupError(
                f"port {port} is already in use; choose another with {variable}=<port> make local"
            ) from None


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


def resolve(node: Any, values: dict[str, Any], conditions: dict[str, Any]) -> Any:
    """The intrinsics template.yaml uses on the API (Ref, Fn::If/Not/Equals/Select/Split/Sub), as CloudFormation
    resolves them; AWS::NoValue removes the key. Other intrinsics are left as they are."""
    no_value = object()

    def ev(n: Any) -> Any:
        if isinstance(n, list):
            return [v for v in map(ev, n) if v is not no_value]
        if not isinstance(n, dict):
            return n
        if len(n) == 1:
            ((key, arg),) = n.items()
            if key == "Ref":
                return no_value if arg == "AWS::NoValue" else values.get(arg, n)
            if key == "Fn::If":
                return ev(arg[1] if ev(conditions[arg[0]]) else arg[2])
            if key == "Fn::Not":
                return not ev(arg[0])
            if key == "Fn::Equals":
                left, right = ev(arg)
                return left == right
            if key == "Fn::Select":
                index, items = ev(arg)
                return items[int(index)]
            if key == "Fn::Split":
                separator, text = ev(arg)
                return text.split(separator)
            if key == "Fn::Sub" and isinstance(arg, str):
                return re.sub(r"\$\{([A-Za-z0-9:]+)\}", lambda m: str(values.get(m.group(1), m.group(0))), arg)
        return {k: v for k, v in ((k, ev(v)) for k, v in n.items()) if v is not no_value}

    return ev(node)


def template_settings(
    template: Path, parameters: dict[str, str]
) -> tuple[dict[str, int], dict[str, Any], list[Preflight]]:
    """What SAM's emulator ignores: the authorizer cache TTLs (ReauthorizeEvery), the GatewayResponses and the CORS
    preflights (OPTIONS mock integrations in the DefinitionBody), resolved for these parameter values."""
    from samcli.yamlhelper import yaml_parse

    from local.gateway import Preflight

    doc = yaml_parse(template.read_text())
    defaults = {k: str(v.get("Default", "")) for k, v in (doc.get("Parameters") or {}).items()}
    values = {**defaults, **parameters}
    conditions = doc.get("Conditions") or {}

    ttls: dict[str, int] = {}
    responses: dict[str, Any] = {}
    preflights: list[Preflight] = []
    for resource in (doc.get("Resources") or {}).values():
        if resource.get("Type") != "AWS::Serverless::Api":
            continue
        props = resolve(resource.get("Properties") or {}, values, conditions)
        for name, spec in ((props.get("Auth") or {}).get("Authorizers") or {}).items():
            ttls[name] = int((spec.get("Identity") or {}).get("ReauthorizeEvery", 300) or 0)
        responses.update(props.get("GatewayResponses") or {})
        for path, item in ((props.get("DefinitionBody") or {}).get("paths") or {}).items():
            if "options" not in item:
                continue
            integration = item["options"]["x-amazon-apigateway-integration"]
            response = integration["responses"]["default"]
            headers = {
                k.removeprefix("method.response.header."): v.strip("'")
                for k, v in (response.get("responseParameters") or {}).items()
            }
            # The allow-list the mapping template compares the Origin with (template.yaml sets it from AllowedOrigins).
            allowed = re.search(r'#set\(\$allowed = "([^"]*)"\)', response["responseTemplates"]["application/json"])
            if integration.get("type") != "mock" or allowed is None:
                raise StartupError(f"the OPTIONS integration of {path} is not the CORS preflight the emulator knows")
            preflights.append(Preflight(path, headers, allowed.group(1)))
    return ttls, responses, preflights


TEMPLATE = Path(os.environ.get("LOCAL_TEMPLATE") or ROOT / "template.yaml")  # tests run modified copies


def template_parameters(env: dict[str, str], reauthorize_every: int = 300) -> dict[str, str]:
    """The template's parameters for a local run, from the functions' environment (what `sam deploy` would be given)."""
    return {
        "LogtoEndpoint": env["LOGTO_ENDPOINT"],
        "ApiResource": env["API_RESOURCE"],
        "M2MSecretArn": SECRET_NAME,
        "ReauthorizeEvery": str(reauthorize_every),
        "CreatorRole": env["CREATOR_ROLE"],
        "AllowedOrigins": env["ALLOWED_ORIGINS"],
    }


def load_stacks(parameters: dict[str, str]) -> Any:
    from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

    stacks, _ = SamLocalStackProvider.get_stacks(str(TEMPLATE), parameter_overrides=parameters)
    return stacks


def lambda_runner(
    stacks: Any, app_python: str, aws_url: str, env_vars: dict[str, Any], workers: int, log: IO[str] | None
) -> Any:
    """SAM's own LocalLambdaRunner (function lookup, layers, environment from the template, Globals and `env_vars` in
    `sam local invoke --env-vars` form, timeout) on the Docker-free subprocess runtime, pointed at the local AWS."""
    from samcli.commands.local.lib.local_lambda import LocalLambdaRunner
    from samcli.lib.providers.sam_function_provider import SamFunctionProvider

    from local.roles import role_credentials
    from local.runtime import SubprocessRuntime

    runtime = SubprocessRuntime(
        app_python,
        extra_env={
            "AWS_ENDPOINT_URL": aws_url,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_SAM_LOCAL": "true",
        },
        max_workers=workers,
        log=log,
        function_env=role_credentials,  # each function signs as its own role, enforced by the local AWS
    )

    class LocalRunner(LocalLambdaRunner):
        def get_aws_creds(self) -> dict[str, str]:
            # SAM builds a boto3 session per invocation when no credentials are configured (~19 ms each); the
            # functions talk to the local moto server with fixed fake credentials anyway.
            return {"region": REGION, "key": "local", "secret": "local"}

    return LocalRunner(
        local_runtime=runtime,
        function_provider=SamFunctionProvider(stacks),
        cwd=str(ROOT),
        real_path=str(ROOT),
        aws_region=REGION,
        env_vars_values=env_vars,
    )


def without_credentials(environ: Any) -> dict[str, str]:
    return {k: v for k, v in environ.items() if k not in ("LOGTO_M2M_APP_ID", "LOGTO_M2M_APP_SECRET")}


def ignore_stop_signals() -> None:
    """Shutdown is under way: the signals after the first (a second Ctrl-C, make's own signal following ours, the
    lifeline's SIGTERM) must not cut it short."""
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, signal.SIG_IGN)


def stop_once(*_: Any) -> None:
    """The handler of the first stop signal: starts the shutdown, and ignores the ones after it."""
    ignore_stop_signals()
    raise KeyboardInterrupt


def claim(data: Path) -> IO[str] | None:
    """An exclusive lock on the state folder, held for this process's life; None when another stack holds it. The
    kernel drops it however the holder ends (kill -9 too), and children do not inherit it (close_fds)."""
    handle = open(data / "serve.lock", "a")  # noqa: SIM115 - held open on purpose until the process ends
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def already_running(data: Path) -> dict[str, Any] | None:
    """The stack that owns this state folder now, if one does (its run.json names a live process)."""
    try:
        info = json.loads((data / "run.json").read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info if isinstance(info, dict) else None


class LocalStack:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.children: list[subprocess.Popen] = []
        self.runtime: Any = None
        self.claim: IO[str] | None = None
        self.secret_arn = ""  # the local M2M secret's ARN, once seeded
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
            # The helpers need no M2M credentials (the local Secrets Manager gets them through its API).
            env={**without_credentials(os.environ), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
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
        proc = self.spawn(self.args.app_python, "-m", "local.aws", "--port", str(port), show="iam: ")
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
        self.secret_arn = boto3.client("secretsmanager", **options).create_secret(
            Name=SECRET_NAME, SecretString=json.dumps({"appId": app_id, "appSecret": app_secret})
        )["ARN"]
        dynamodb = boto3.client("dynamodb", **options)
        for table in (IDEMPOTENCY_TABLE, CLEANUP_TABLE):
            dynamodb.create_table(
                TableName=table,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            )
        dynamodb.update_time_to_live(
            TableName=IDEMPOTENCY_TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"}
        )
        from local.audit_resources import create_audit_resources

        create_audit_resources(dynamodb, boto3.client("events", **options), AUDIT_TABLE, EVENT_BUS)

    def enforce_roles(self, aws_url: str, env: dict[str, str], reauthorize_every: int = 300) -> None:
        """Each function's role from template.yaml, enforced by the local AWS from now on (local/roles.py)."""
        from local.roles import RoleError, function_roles, install

        # M2MSecretArn as `sam deploy` is given it: the ARN of the (local) secret.
        parameters = {**template_parameters(env, reauthorize_every), "M2MSecretArn": self.secret_arn}
        try:
            install(aws_url, function_roles(TEMPLATE, parameters, env, REGION))
        except RoleError as error:
            raise StartupError(f"template.yaml: {error}") from None

    def start_logto(self, api_resource: str, console_url: str) -> tuple[str, str, str]:
        from local.logto.credentials import M2M_APP_ID, M2M_APP_SECRET

        port = self.args.logto_port or free_port()
        ensure_port_free(port, "LOGTO_PORT")
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
            "--console-url",
            console_url,
        ]
        if self.args.reset:
            argv.append("--reset")
        proc = self.spawn(*argv, show="invitation e-mail to ")  # what the stand-in would have e-mailed
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/oidc/jwks", proc, "the Logto stand-in")
        return url, M2M_APP_ID, M2M_APP_SECRET

    def build_gateway(self, env: dict[str, str], aws_url: str) -> Any:
        from samcli.lib.providers.api_provider import ApiProvider

        from local.gateway import FaithfulApigwService

        parameters = template_parameters(env, self.args.reauthorize_every)
        stacks = load_stacks(parameters)
        log = None if self.args.verbose else open(self.data / "logs" / "functions.log", "a", buffering=1)  # noqa: SIM115
        runner = lambda_runner(stacks, self.args.app_python, aws_url, {"Parameters": env}, self.args.workers, log)
        self.runtime = runner.local_runtime
        ttls, responses, preflights = template_settings(TEMPLATE, parameters)
        service = FaithfulApigwService(
            api=ApiProvider(stacks, cwd=str(ROOT)).api,
            lambda_runner=runner,
            port=self.args.port,
            host="127.0.0.1",
            stderr=None,
            gateway_responses=responses,
            authorizer_ttls=ttls,
            preflights=preflights,
        )
        service.create()
        service.aws_url = aws_url
        return service

    @property
    def run_file(self) -> Path:
        return self.data / "run.json"

    def publish(self, info: dict[str, Any]) -> None:
        """.local/run.json: where `make token` and `make invoke` find the running stack; removed again by stop()."""
        self.run_file.write_text(json.dumps({**info, "pid": os.getpid()}))

    def stop(self) -> None:
        ignore_stop_signals()
        try:
            if json.loads(self.run_file.read_text()).get("pid") == os.getpid():
                self.run_file.unlink()
        except (OSError, ValueError):
            pass
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
        if self.claim is not None:
            self.claim.close()  # the state folder is free for the next `make local` (exit would free it too)


def start_cleanup_timer(service: Any, every: float) -> None:
    """EventBridge's schedule for RunCleanupsFunction, locally: a daemon thread invoking it every `every` seconds."""
    import threading

    def loop() -> None:
        while True:
            time.sleep(every)
            try:
                service.run_cleanups()
            except Exception as exc:  # a failed run is logged by the function; the timer keeps going
                print(f"clean-up run failed: {type(exc).__name__}", file=sys.stderr)

    threading.Thread(target=loop, name="cleanup-timer", daemon=True).start()


def local_invitation_link(external: bool, console_url: str) -> str:
    """INVITATION_LINK from the environment; with the stand-in it defaults to a local link, so every invitation
    made on `make local` is "e-mailed" (the stand-in's outbox, /__dev/outbox). INVITATION_LINK= turns it off."""
    configured = os.environ.get("INVITATION_LINK")
    if configured is not None or external:
        return configured or ""
    return f"{console_url}/invite/{{invitationId}}"


def function_env(
    logto_url: str, api_resource: str, allowed_origins: str, console_url: str, external: bool = False
) -> dict[str, str]:
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
        "INVITATION_LINK": local_invitation_link(external, console_url),
        "ALLOWED_ORIGINS": allowed_origins,
        "CLEANUP_TABLE": CLEANUP_TABLE,
        "AUDIT_TABLE": AUDIT_TABLE,
        "EVENT_BUS_NAME": EVENT_BUS,
        "AUDIT_RETENTION_DAYS": os.environ.get("AUDIT_RETENTION_DAYS", "90"),
    }
    return env


def allowed_origins_for(console_url: str) -> str:
    """ALLOWED_ORIGINS from the environment (validated as the functions will), else the console's origin."""
    sys.path.insert(0, str(ROOT / "layers" / "common"))  # the same rule the functions apply at cold start
    from orgapi.base.cors import parse_allowed_origins
    from orgapi.base.errors import ConfigError

    raw = os.environ.get("ALLOWED_ORIGINS")
    value = console_url if raw is None else raw.strip()
    try:
        parse_allowed_origins(value)
    except ConfigError as error:
        raise StartupError(str(error)) from None
    return value


def banner(url: str, logto_url: str, external: bool, console_url: str, allowed_origins: str, data: Path) -> str:
    state = f"{data.relative_to(ROOT)}/" if data.is_relative_to(ROOT) else f"{data}/"
    # `make token` in another terminal finds this stack through its state folder: say which, unless it's the default.
    make = "make" if data == ROOT / ".local" else f"LOCAL_DATA={data} make"
    lines = [
        f"Logto organization API (local) listening on {url}",
        f"Demo console: {console_url}   (CORS: ALLOWED_ORIGINS={allowed_origins or '(empty: off)'})",
        "",
    ]
    if external:
        lines += [f"Using your Logto at {logto_url}. Get tokens from your app; requests go to your tenant."]
    else:
        lines += [
            f"Logto stand-in on {logto_url} (state in {state}, `make local RESET=1` starts fresh; tokens survive a restart)",
            "Seeded users: alice (admin of demo0org0001), bob (member of demo0org0001), carol (no organization),",
            "              dave (may not create organizations; invited to demo0org0001: demo0invite1),",
            "              erin (no primary e-mail).",
            f"Their password on the stand-in's sign-in page (the demo console's Sign in): {SEEDED_PASSWORD}",
            f"Invitation e-mails are printed here and kept at {logto_url}/__dev/outbox.",
            "",
            "Try it:",
            f"  curl -s {url}/health",
            f"  TOKEN=$({make} -s token KIND=org AS=alice ORG=demo0org0001)",
            f'  curl -s -H "Authorization: Bearer $TOKEN" {url}/organizations/demo0org0001/members',
            f"  TOKEN=$({make} -s token KIND=global AS=carol)",
            f'  curl -s -X POST -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" '
            f'-d \'{{"name":"Carol Co"}}\' {url}/organizations',
        ]
    lines += ["", f"Function logs: {state}logs/functions.log   Ctrl-C stops everything."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # String defaults from the environment go through `type` too, so PORT=abc is the same clean error as --port abc.
    parser.add_argument("--port", type=number("PORT", 1, 65535), default=os.environ.get("PORT", "3000"))
    parser.add_argument("--app-python", default=str(ROOT / ".venv" / "bin" / "python"))
    parser.add_argument(
        "--logto-port",
        type=number("LOGTO_PORT", 0, 65535),
        default=os.environ.get("LOGTO_PORT") or str(DEFAULT_LOGTO_PORT),
        help="the Logto stand-in's port (0: any free port; its issuer, and so every token, changes with the port)",
    )
    parser.add_argument(
        "--console-port",
        type=number("CONSOLE_PORT", 1, 65535),
        default=os.environ.get("CONSOLE_PORT", "3001"),
        help="the demo console",
    )
    parser.add_argument(
        "--reauthorize-every",
        type=number("REAUTHORIZE_EVERY", 0, 3600),  # API Gateway's own limit for the authorizer cache TTL
        default=os.environ.get("REAUTHORIZE_EVERY", "300"),
    )
    parser.add_argument("--workers", type=int, default=4, help="warm workers per function (Lambda concurrency)")
    parser.add_argument(
        "--reset", type=yes_no, nargs="?", const=True, default=False, help="start the Logto stand-in from its seed"
    )
    parser.add_argument(
        "--verbose", type=yes_no, nargs="?", const=True, default=False, help="function logs to the terminal"
    )
    parser.add_argument(
        "--data", default=os.environ.get("LOCAL_DATA") or str(ROOT / ".local"), help="state and logs folder"
    )
    parser.add_argument(
        "--cleanup-every",
        type=number("CLEANUP_EVERY", 0, 86400, float),
        default=os.environ.get("CLEANUP_EVERY", "60"),
        help="seconds between runs of the scheduled clean-up function (0: only on POST /__local/cleanup)",
    )
    args = parser.parse_args()
    args.app_python = os.path.abspath(args.app_python)  # workers run with the function folder as cwd

    stack = LocalStack(args)
    for stop_signal in (signal.SIGTERM, signal.SIGINT):  # SIGINT even when started in the background with it ignored
        signal.signal(stop_signal, stop_once)
    follow_parent()  # `make local` killed without a Ctrl-C to its process group: shut down all the same
    try:
        # Claimed at once, not when run.json appears: two stacks starting together must not share the folder.
        stack.claim = claim(stack.data)
        if stack.claim is None:
            running = already_running(stack.data)
            where = f"already running on {running.get('url')}" if running else "already starting"
            raise StartupError(
                f"`make local` is {where} with this state folder ({stack.data}); "
                "stop it first, or give this one another LOCAL_DATA"
            )
        if args.console_port in (args.port, args.logto_port):
            raise StartupError(f"the console port {args.console_port} is also the API's or the stand-in's port")
        if args.logto_port == args.port:
            raise StartupError(f"the stand-in's port {args.logto_port} (LOGTO_PORT) is also the API's port (PORT)")
        ensure_port_free(args.port)
        ensure_port_free(args.console_port, "CONSOLE_PORT")
        console_url = f"http://127.0.0.1:{args.console_port}"
        allowed_origins = allowed_origins_for(console_url)
        from werkzeug.serving import make_server

        from local.console_build import BuildError, ensure_bundle
        from local.console_server import create_console_app

        try:
            ensure_bundle()  # Logto's browser SDK for the console: npm ci + esbuild on the first run, cached after
        except BuildError as error:
            raise StartupError(str(error)) from None

        # Bound before anything else picks a free port, so the stand-in can never land on the console's port.
        console_app = create_console_app(f"http://127.0.0.1:{args.port}")
        console = make_server("127.0.0.1", args.console_port, console_app, threaded=True)
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
            logto_url, app_id, app_secret = stack.start_logto(api_resource, console_url)
        aws_url = stack.start_moto()
        stack.seed_aws(aws_url, app_id, app_secret)
        env = function_env(logto_url, api_resource, allowed_origins, console_url, external)
        stack.enforce_roles(aws_url, env, args.reauthorize_every)
        service = stack.build_gateway(env, aws_url)
        server = make_server(
            "127.0.0.1", args.port, service._app, threaded=True, request_handler=service.request_handler()
        )
        if args.cleanup_every > 0:
            start_cleanup_timer(service, args.cleanup_every)
        url = f"http://127.0.0.1:{args.port}"
        console_app.config["STAND_IN"] = None if external else logto_url
        console_app.config["API_RESOURCE"] = api_resource
        threading.Thread(target=console.serve_forever, daemon=True, name="console").start()
        stack.publish(
            {
                "url": url,
                "logto": logto_url,
                "external": external,
                "apiResource": api_resource,
                "console": console_url,
                "allowedOrigins": allowed_origins,
                "aws": aws_url,  # `make invoke` runs functions against this stack's Secrets Manager and tables
                "functionEnv": env,  # no secrets in it: the M2M credentials live in the local Secrets Manager
            }
        )
        print(banner(url, logto_url, external, console_url, allowed_origins, stack.data), flush=True)
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
