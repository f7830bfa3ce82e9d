"""`make bench`: printed figures (not a timed test). The machine may be shared: every ratio is measured side by side
in one run (interleaved), and every figure is a median (with the minimum beside cold imports: on a loaded machine the
minimum of many fresh interpreters is the closest to an idle one).

1. Warm authorizer invocation on a valid ES384 token (p50/p99), against a bare `cryptography` ECDSA P-384 verify of
   the same token (the floor), and their ratio, with the log line and metric as deployed. Target: p50 ratio <= 1.15.
2. Cold-start import of each function module in fresh interpreters, interleaved over BENCH_IMPORTS rounds (default
   15), median and minimum, beside the floor (json and cryptography's EC/RSA verify): the layer as source, as deployed
   (with bytecode), and as deployed after what Lambda's runtime imports before any handler. Targets: authorizer
   <= 60 ms, every operation <= 100 ms.
3. M2M token requests over 1000 operations in one process (target: 1), with the operation's in-process latency.
4. Logto round trips per route and token kind: calls made and SEQUENTIAL round trips, beside the minimum the contract
   allows (tests/support/round_trips.py; tests/unit/test_round_trips.py keeps every route at it).
5. What live permissions cost: Management API calls and latency per mutating route and token kind, with
   LIVE_PERMISSIONS=off against writes, every Logto answer delayed by LOGTO_DELAY_MS (default 20 ms, a nearby
   Logto Cloud region) so the figures show round trips, not loopback.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "layers" / "common"), str(ROOT)]

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature  # noqa: E402

from orgapi.base.config import LIMITS, MAX_LIMIT  # noqa: E402
from orgapi.contract.routes import ROUTES  # noqa: E402
from tests.support.http_stub import StubServer  # noqa: E402
from tests.support.jwt_factory import SigningKey, token  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "3000"))


class Ctx:
    function_name, memory_limit_in_mb, aws_request_id = "bench", 512, "r"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:bench"

    def get_remaining_time_in_millis(self):
        return 10_000


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def timed(fn, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - started) / 1000)
    return samples


def bench_authorizer() -> None:
    key = SigningKey.generate("bench-kid")
    server = StubServer({"/oidc/jwks": lambda: (200, {"keys": [key.public_jwk()]}, 0)})
    os.environ.update(
        LOGTO_ENDPOINT=server.url, API_RESOURCE="https://api.example.com/org", POWERTOOLS_SERVICE_NAME="authorizer"
    )
    sys.path.insert(0, str(ROOT / "functions" / "authorizer"))
    import app

    tok = token(key, {"iss": f"{server.url}/oidc", "scope": "member:read member:invite role:assign"})
    event = {
        "type": "TOKEN",
        "authorizationToken": f"Bearer {tok}",
        "methodArn": "arn:aws:execute-api:eu-west-1:123456789012:abc/v1/GET/organizations/org1abc/members",
    }
    ctx = Ctx()
    sink = io.StringIO()
    from orgapi.base.observability import logger

    for handler in logger._logger.handlers:  # Lambda writes the log line and EMF blob: we pay for them, not a tty
        handler.setStream(sink)

    def authorize():
        app.lambda_handler(event, ctx)
        sink.seek(0)
        sink.truncate()

    signing_input, _, signature = tok.rpartition(".")
    raw = base64.urlsafe_b64decode(signature + "==")
    der = encode_dss_signature(int.from_bytes(raw[:48], "big"), int.from_bytes(raw[48:], "big"))
    public = key.private.public_key()
    data = signing_input.encode()
    algorithm = ec.ECDSA(hashes.SHA384())

    def floor():
        public.verify(der, data, algorithm)
        json.loads(base64.urlsafe_b64decode(signing_input.split(".")[1] + "=="))

    authorizer: list[float] = []
    bare: list[float] = []
    with contextlib.redirect_stdout(sink):
        for _ in range(200):
            authorize()
            floor()
        for _ in range(RUNS // 100):  # interleaved blocks, so machine noise hits both alike
            authorizer += timed(authorize, 100)
            bare += timed(floor, 100)
    server.close()
    a50, a99, b50, b99 = (
        percentile(authorizer, 0.5),
        percentile(authorizer, 0.99),
        percentile(bare, 0.5),
        percentile(bare, 0.99),
    )
    print(f"authorizer warm invocation (ES384, {RUNS} runs): p50 {a50:7.1f} us   p99 {a99:7.1f} us")
    print(f"bare cryptography P-384 verify (the floor):   p50 {b50:7.1f} us   p99 {b99:7.1f} us")
    print(f"ratio authorizer/floor: p50 {a50 / b50:.2f}   p99 {a99 / b99:.2f}   (target: p50 <= 1.15)")


IMPORTS = int(os.environ.get("BENCH_IMPORTS", "15"))
FLOOR_IMPORT = "import json; from cryptography.hazmat.primitives.asymmetric import ec, rsa, padding, utils"


def copied_layer(into: Path, *, compiled: bool) -> Path:
    """The layer's own code, without any bytecode a test run left beside it (Python would read that even with
    PYTHONDONTWRITEBYTECODE), and `compiled`: with its bytecode (unchecked-hash), as layers/common/Makefile ships it."""
    import compileall
    import shutil

    layer = into / ("compiled" if compiled else "source")
    shutil.copytree(ROOT / "layers" / "common", layer, ignore=shutil.ignore_patterns("__pycache__"))
    if compiled:
        mode = compileall.py_compile.PycInvalidationMode.UNCHECKED_HASH
        compileall.compile_dir(layer, quiet=1, invalidation_mode=mode)
    return layer


# What Lambda's Python runtime has imported before it imports a handler (awslambdaric 4.0.1, the runtime interface
# client in the managed python3.13 runtime: bootstrap.py, lambda_runtime_log_utils.py, lambda_runtime_marshaller.py).
# On Lambda these cost a handler's import nothing: the third column starts the clock after them.
RUNTIME_LOADED = "import decimal, importlib, json, logging, math, os, sys, time, traceback; from enum import IntEnum"


def cold_import(function: str, code: str, layer: Path, before: str = "") -> float:
    """Milliseconds of `code` in a fresh interpreter run from the function's folder, after `before` (not timed)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "functions" / function), str(layer)]),
        "PYTHONDONTWRITEBYTECODE": "1",  # the layer's own modules compile at every cold start in Lambda too
        "LOGTO_ENDPOINT": "https://tenant.logto.app",
        "API_RESOURCE": "https://api.example.com/org",
        "M2M_SECRET_ID": "bench",
        "IDEMPOTENCY_TABLE": "bench",
        "CLEANUP_TABLE": "bench",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    env.pop("AWS_LAMBDA_FUNCTION_NAME", None)
    timed_code = f"import time\n{before}\nt = time.perf_counter()\n{code}\nprint(time.perf_counter() - t)"
    out = subprocess.run(
        [sys.executable, "-P", "-c", timed_code],
        env=env,
        cwd=ROOT / "functions" / function,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise SystemExit(f"{function}: import failed\n{out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1]) * 1000


def bench_cold_imports() -> None:
    """Every function three ways: its layer code as source (what SAM's python3.13 build method ships: Lambda cannot
    write bytecode to /opt, so it compiles at every cold start), with bytecode (as deployed since layers/common/Makefile
    builds the layer), and with bytecode after what Lambda's runtime has already imported. All interleaved, round after
    round, so a machine that slows down mid-run slows every row alike."""
    print(
        f"\ncold-start import, fresh interpreters ({IMPORTS} rounds, interleaved): median / minimum, layer as source |"
        " with bytecode (as deployed) | as deployed, after the Lambda runtime's own imports"
    )
    rows = [("floor (json + EC/RSA)", "authorizer", FLOOR_IMPORT), ("authorizer", "authorizer", "import app")]
    rows += [(route.name, route.name, "import app") for route in ROUTES]
    with tempfile.TemporaryDirectory() as scratch:
        plain, built = copied_layer(Path(scratch), compiled=False), copied_layer(Path(scratch), compiled=True)
        ways = ((plain, ""), (built, ""), (built, RUNTIME_LOADED))
        samples: dict[str, list[list[float]]] = {name: [[], [], []] for name, _, _ in rows}
        for _ in range(IMPORTS):
            for name, function, code in rows:
                for column, (layer, before) in zip(samples[name], ways, strict=True):
                    column.append(cold_import(function, code, layer, before))

    def figures(name: str) -> list[tuple[float, float]]:
        return [(statistics.median(column), min(column)) for column in samples[name]]

    def row(name: str, note: str = "") -> None:
        cells = " | ".join(f"{median:6.1f} / {least:5.1f} ms" for median, least in figures(name))
        print(f"  {name:24} {cells}{note}")

    row("floor (json + EC/RSA)")
    row("authorizer", "   (target <= 60)")
    for route in ROUTES:
        row(route.name)
    slowest = max((route.name for route in ROUTES), key=lambda name: figures(name)[1][0])
    print(f"  slowest operation, as deployed: {slowest} (target <= 100)")


@contextlib.contextmanager
def standin_with_local_aws(tables: tuple[str, ...] = (), data: Path | None = None, **env: str):
    """The Logto stand-in in-process, moto for Secrets Manager (the M2M secret `m2m`) and DynamoDB (`tables`), and the
    functions' environment pointing at them."""
    import boto3
    from moto import mock_aws

    from local.logto.credentials import M2M_APP_ID, M2M_APP_SECRET
    from tests.support.logto_standin import InProcessLogto

    with tempfile.TemporaryDirectory() as scratch, mock_aws():
        logto = InProcessLogto(data or Path(scratch), "https://api.example.com/org")
        os.environ.update(
            LOGTO_ENDPOINT=logto.url,
            M2M_SECRET_ID="m2m",
            AWS_ACCESS_KEY_ID="x",
            AWS_SECRET_ACCESS_KEY="x",
            AWS_DEFAULT_REGION="eu-west-1",
            **env,
        )
        boto3.client("secretsmanager", region_name="eu-west-1").create_secret(
            Name="m2m", SecretString=json.dumps({"appId": M2M_APP_ID, "appSecret": M2M_APP_SECRET})
        )
        if "AUDIT_TABLE" in env:
            from local.audit_resources import create_audit_resources

            events = boto3.client("events", region_name="eu-west-1")
            create_audit_resources(
                boto3.client("dynamodb", region_name="eu-west-1"), events, env["AUDIT_TABLE"], "changes"
            )
        for table in tables:
            boto3.client("dynamodb", region_name="eu-west-1").create_table(
                TableName=table,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            )
        try:
            yield logto
        finally:
            logto.close()


def bench_m2m_cache() -> None:
    with standin_with_local_aws(POWERTOOLS_SERVICE_NAME="get_organization") as logto:
        from orgapi.gateway.handler import build_handler
        from orgapi.operations.organizations import get_organization

        handler = build_handler("get_organization", get_organization)
        event = json.loads((ROOT / "events" / "get_organization.json").read_text())
        ctx = Ctx()
        statuses: dict[int, int] = {}

        def one():
            status = handler(event, ctx)["statusCode"]
            statuses[status] = statuses.get(status, 0) + 1

        with quiet():  # the functions' log lines and the stand-in's request log
            samples = timed(one, 1000)
        stats = logto.stats()
    print(f"\nM2M token requests over 1000 operations in one process: {stats['token_requests']} (target 1)")
    print(f"  responses by status: {statuses}")
    print(
        f"  get_organization in-process incl. Logto stand-in over loopback: p50 {percentile(samples, 0.5) / 1000:.2f} ms"
        f"   p99 {percentile(samples, 0.99) / 1000:.2f} ms"
    )


def bench_live_permissions(runs: int = 15) -> None:
    import logging

    from orgapi.base.observability import logger
    from orgapi.gateway.handler import build_handler
    from orgapi.operations import invitations, members, organizations, services

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    delay = int(os.environ.get("LOGTO_DELAY_MS", "20"))
    operations = {
        "update_organization": organizations.update_organization,
        "add_members": members.add_members,
        "replace_member_roles": members.replace_member_roles,
        "remove_member": members.remove_member,
        "create_invitation": invitations.create_invitation,
        "create_organization": organizations.create_organization,
    }
    sink = io.StringIO()
    for h in logger._logger.handlers:
        h.setStream(sink)
    rows = []
    environment = {
        "API_RESOURCE": "https://api.example.com/org",
        "IDEMPOTENCY_TABLE": "state",
        "CLEANUP_TABLE": "cleanups",
        "POWERTOOLS_METRICS_DISABLED": "true",
        **dict.fromkeys(LIMITS, "0"),  # live permissions alone: 32 creations would meet a user's daily limit (see §5)
    }
    with standin_with_local_aws(("state", "cleanups"), **environment) as logto, contextlib.redirect_stdout(sink):
        logto.fault(rate=1.0, kinds=["slow"], slowMs=delay, seed=1)
        counter = iter(range(10**6))

        def event_for(name: str, kind: str) -> dict:
            event = json.loads((ROOT / "events" / f"{name}.json").read_text())
            authorizer = event["requestContext"]["authorizer"]
            if name != "create_organization":
                authorizer["tokenKind"] = kind
            n = next(counter)
            if name == "create_invitation":
                event["body"] = json.dumps({"invitee": f"bench{n}@example.com"})
            if name in ("remove_member", "replace_member_roles"):
                event["pathParameters"]["userId"] = "bob"
            if name == "create_organization":
                event["headers"].pop("Idempotency-Key", None)
            return event

        def setup(name: str) -> None:
            if name in ("remove_member", "replace_member_roles"):  # bob is (back) in, outside the measurement
                add = build_handler("add_members", members.add_members)
                body = {"userIds": ["bob"], "roleNames": ["member"]}
                add({**event_for("add_members", "organization"), "body": json.dumps(body)}, Ctx())

        for mode in ("off", "writes"):
            os.environ["LIVE_PERMISSIONS"] = mode
            services.services.cache_clear()
            for name, operation in operations.items():
                handler = build_handler(name, operation)
                kinds = ["global_api"] if name == "create_organization" else ["organization", "organization_api"]
                for kind in kinds:
                    handler(event_for(name, kind), Ctx())  # warm: role cache, resource id, M2M token
                    calls, samples = [], []
                    for _ in range(runs):
                        setup(name)
                        event = event_for(name, kind)
                        before = logto.stats()["management_requests"]
                        started = time.perf_counter()
                        status = handler(event, Ctx())["statusCode"]
                        samples.append((time.perf_counter() - started) * 1000)
                        calls.append(logto.stats()["management_requests"] - before)
                        assert status < 300, (name, kind, mode, status)
                    rows.append((name, kind, mode, statistics.median(calls), statistics.median(samples)))
    print(f"\nlive permissions: Management API calls and latency per request (Logto answers delayed {delay} ms)")
    print(f"  {'route':22} {'token':17} {'calls off':>9} {'writes':>7} {'p50 off':>9} {'writes':>9}")
    by_key = {(r[0], r[1], r[2]): r for r in rows}
    for name, kind, mode, _, _ in rows:
        if mode != "off":
            continue
        off, live = by_key[(name, kind, "off")], by_key[(name, kind, "writes")]
        print(f"  {name:22} {kind:17} {off[3]:9.0f} {live[3]:7.0f} {off[4]:7.1f}ms {live[4]:7.1f}ms")


def bench_round_trips() -> None:
    from orgapi.operations import services
    from tests.support.round_trips import SCENARIOS, CallRecorder, Setup, event, sequential_round_trips

    loaded: dict[str, object] = {}

    def handler_of(name: str):
        """functions/<name>/app.py, loaded once (as in the unit tests' `handlers`)."""
        if name not in loaded:
            spec = importlib.util.spec_from_file_location(f"fn_{name}", ROOT / "functions" / name / "app.py")
            module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            spec.loader.exec_module(module)  # type: ignore[union-attr]
            loaded[name] = module.lambda_handler
        return loaded[name]

    environment = {
        "API_RESOURCE": "https://api.example.com/org",
        "IDEMPOTENCY_TABLE": "state",
        "CLEANUP_TABLE": "cleanups",
        "INVITATION_LINK": "https://app.example.com/invitation/{invitationId}",
        "AUDIT_TABLE": "audit",
        "EVENT_BUS_NAME": "changes",
        "LIVE_PERMISSIONS": "writes",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    rows = []
    with (
        tempfile.TemporaryDirectory() as data,
        quiet(),
        standin_with_local_aws(("state", "cleanups"), data=Path(data), **environment) as logto,
    ):
        services.services.cache_clear()
        recorder = CallRecorder(logto.server.app)
        logto.server.app = recorder
        setup = Setup(logto, Path(data) / "logto.sqlite")
        handler_of("get_own_membership")(event("get_own_membership", "organization"), Ctx())  # a warm container
        for scenario in SCENARIOS:
            handler, request = handler_of(scenario.route), scenario.build(setup)
            response, calls = recorder.record(lambda h=handler, r=request: h(r, Ctx()))
            rows.append((scenario, response["statusCode"], len(calls), sequential_round_trips(calls)))
    print("\nLogto round trips per request (warm container, LIVE_PERMISSIONS=writes, INVITATION_LINK set)")
    print(
        f"  {'route':24} {'token':17} {'calls':>5} {'sequential':>10} {'minimum':>7}  status  what must come one after another"
    )
    for scenario, status, calls, rounds in rows:
        flag = "" if rounds <= scenario.minimum else "  <-- above the minimum"
        print(
            f"  {scenario.route:24} {scenario.kind or '-':17} {calls:5} {rounds:10} {scenario.minimum:7}  {status:6}"
            f"  {scenario.why}{flag}"
        )


def bench_limits(runs: int = 15) -> None:
    import logging

    import boto3

    from orgapi.base.observability import logger
    from orgapi.gateway.handler import build_handler
    from orgapi.operations import invitations, members, organizations, services
    from tests.support.round_trips import CallRecorder, sequential_round_trips

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    delay = int(os.environ.get("LOGTO_DELAY_MS", "20"))
    dynamodb_delay = int(os.environ.get("DYNAMODB_DELAY_MS", "5")) / 1000
    cases = [  # (label, route, operation, body)
        ("POST members", "add_members", members.add_members, {"userIds": ["bob"]}),
        ("POST members + role", "add_members", members.add_members, {"userIds": ["bob"], "roleNames": ["member"]}),
        ("POST invitations", "create_invitation", invitations.create_invitation, None),
        ("POST …/message", "send_invitation_message", invitations.send_invitation_message, None),
        ("POST organizations", "create_organization", organizations.create_organization, None),
    ]
    sink = io.StringIO()
    for h in logger._logger.handlers:
        h.setStream(sink)
    environment = {
        "API_RESOURCE": "https://api.example.com/org",
        "IDEMPOTENCY_TABLE": "state",
        "CLEANUP_TABLE": "cleanups",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "LIVE_PERMISSIONS": "writes",
        "INVITATION_LINK": "https://app.example.com/invite/{invitationId}",
        "AUDIT_TABLE": "audit",  # as deployed: every write function records its change
        "EVENT_BUS_NAME": "changes",
    }
    dynamodb_calls = [0]

    def dynamodb_round_trip(**_):
        dynamodb_calls[0] += 1
        time.sleep(dynamodb_delay)

    rows = {}
    with standin_with_local_aws(("state", "cleanups"), **environment) as logto, contextlib.redirect_stdout(sink):
        boto3.setup_default_session()  # the functions' clients are made from it: count (and delay) their calls
        boto3.DEFAULT_SESSION.events.register("before-call.dynamodb", dynamodb_round_trip)
        logto.fault(rate=1.0, kinds=["slow"], slowMs=delay, seed=1)
        counter = iter(range(10**6))

        def event_for(route: str, body: dict | None) -> dict:
            event = json.loads((ROOT / "events" / f"{route}.json").read_text())
            if route == "create_invitation":
                body = {"invitee": f"bench{next(counter)}@example.com"}
            if route == "create_organization":
                event["headers"].pop("Idempotency-Key", None)
            if body is not None:
                event["body"] = json.dumps(body)
            return event

        recorder = CallRecorder(logto.server.app, delay=0.02)
        logto.server.app = recorder
        for mode, value in (("off", "0"), ("on", str(MAX_LIMIT))):
            os.environ.update(dict.fromkeys(LIMITS, value))
            services.services.cache_clear()
            for label, route, operation, body in cases:
                handler = build_handler(route, operation)
                handler(event_for(route, body), Ctx())  # warm: role cache, resource id, M2M token, boto3 clients
                # Sequential round trips, Logto and AWS together (a chain of calls each after the previous one).
                time.sleep(0.15)  # (as below)
                recorded_event = event_for(route, body)
                _, recorded = recorder.record(lambda h=handler, e=recorded_event: h(e, Ctx()), aws=True)
                chains = sequential_round_trips(recorded)
                calls, ddb, samples = [], [], []
                for _ in range(runs):
                    time.sleep(0.15)  # a quiet organization (a busy one's count is read again: README, Limits)
                    event = event_for(route, body)
                    before, dynamodb_calls[0] = logto.stats()["management_requests"], 0
                    started = time.perf_counter()
                    status = handler(event, Ctx())["statusCode"]
                    samples.append((time.perf_counter() - started) * 1000)
                    calls.append(logto.stats()["management_requests"] - before)
                    ddb.append(dynamodb_calls[0])
                    assert status < 300, (label, mode, status)
                rows[label, mode] = (
                    statistics.median(calls),
                    statistics.median(ddb),
                    statistics.median(samples),
                    chains,
                )
    print(
        f"\nlimits: calls and latency per write, every limit off -> on (Logto answers delayed {delay} ms, "
        f"DynamoDB {dynamodb_delay * 1000:.0f} ms; organization token, LIVE_PERMISSIONS=writes)"
    )
    print(f"  {'route':22} {'Logto calls':>12} {'DynamoDB calls':>15} {'sequential':>12} {'p50':>17}")
    for label, *_ in cases:
        off, on = rows[label, "off"], rows[label, "on"]
        print(
            f"  {label:22} {off[0]:5.0f} -> {on[0]:<4.0f} {off[1]:7.0f} -> {on[1]:<5.0f} {off[3]:5} -> {on[3]:<4} "
            f"{off[2]:6.1f} -> {on[2]:5.1f} ms"
        )
    print("  (sequential: round trips one after another, Logto and AWS together; the limits' cost is on - off)")


@contextlib.contextmanager
def quiet():
    import logging

    from orgapi.base.observability import logger

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    sink = io.StringIO()
    for h in logger._logger.handlers:
        h.setStream(sink)
    with contextlib.redirect_stdout(sink):
        yield


if __name__ == "__main__":
    print(f"python {sys.version.split()[0]} on {os.uname().machine}, {os.cpu_count()} cores\n")
    only = set(sys.argv[1:]) or {"authorizer", "imports", "m2m", "round_trips", "live", "limits"}
    if "authorizer" in only:
        bench_authorizer()
    if "imports" in only:
        bench_cold_imports()
    if "m2m" in only:
        bench_m2m_cache()
    if "round_trips" in only:
        bench_round_trips()
    if "live" in only:
        bench_live_permissions()
    if "limits" in only:
        bench_limits()
