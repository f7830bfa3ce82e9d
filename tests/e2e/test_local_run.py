"""`make local` and `make invoke` as a newcomer meets them (issue 12): started through make itself, on free ports in a
temp data folder. Stopping (every way a terminal, a script or an IDE stops make), restarting with tokens still valid,
quiet logs for a 401, and every file in events/ through `make invoke` with the answer events/README.md documents."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from local.harness import free_port

ROOT = Path(__file__).resolve().parents[2]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> set[int]:
    tree, found, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class MakeLocal:
    proc: subprocess.Popen
    data: Path
    url: str
    logto: str
    logto_port: int
    env: dict[str, str]

    def output(self) -> str:
        self.proc.wait(timeout=30)
        return self.proc.stdout.read() if self.proc.stdout else ""

    def token(self, **body) -> str:
        response = requests.post(f"{self.logto}/__dev/tokens", json=body, timeout=5)
        assert response.status_code == 200, response.text
        return response.json()["token"]


def start_make_local(data: Path, logto_port: int | None = None, reset: str = "1") -> MakeLocal:
    port, console = free_port(), free_port()
    logto_port = logto_port or free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("LOGTO_ENDPOINT", "API_RESOURCE", "MAKEFLAGS", "MFLAGS")}
    env.update(
        PORT=str(port), CONSOLE_PORT=str(console), LOGTO_PORT=str(logto_port), LOCAL_DATA=str(data), CLEANUP_EVERY="0"
    )
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "local", f"RESET={reset}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives it: Ctrl-C is a SIGINT to that group
    )
    deadline = time.monotonic() + 90
    while not (data / "run.json").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"make local did not start:\n{proc.stdout.read() if proc.stdout else ''}")
        time.sleep(0.1)
    info = json.loads((data / "run.json").read_text())
    return MakeLocal(proc, data, info["url"], info["logto"], logto_port, env)


def stop_everything(stack: MakeLocal) -> None:
    for pid in descendants(stack.proc.pid) | {stack.proc.pid}:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


STOPS = {
    "ctrl-c": lambda make: os.killpg(make.pid, signal.SIGINT),  # the terminal signals the whole foreground group
    "sigint-to-make": lambda make: os.kill(make.pid, signal.SIGINT),  # make alone: it waits, forwarding nothing
    "sigterm-to-make": lambda make: os.kill(make.pid, signal.SIGTERM),
    "kill-9-make": lambda make: os.kill(make.pid, signal.SIGKILL),
}


@pytest.mark.parametrize("how", sorted(STOPS))
def test_every_way_of_stopping_make_local_stops_everything_quietly(tmp_path, how):
    stack = start_make_local(tmp_path)
    try:
        assert requests.get(f"{stack.url}/health", timeout=10).status_code == 200
        # A 401 (the authorizer raises Unauthorized): a normal outcome, one quiet line at most.
        denied = requests.get(f"{stack.url}/organizations", headers={"Authorization": "Bearer x.y.z"}, timeout=10)
        assert denied.status_code == 401
        processes = descendants(stack.proc.pid)
        assert len(processes) >= 4  # the server, the stand-in, the local AWS, warm function workers
        STOPS[how](stack.proc)
        deadline = time.monotonic() + 20
        while any(alive(pid) for pid in processes | {stack.proc.pid}) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = sorted(pid for pid in processes if alive(pid))
        assert not left, f"still running after {how}: {left}"
        assert not (tmp_path / "run.json").exists()  # `make token` must not think a stopped stack is running
        if how != "kill-9-make":
            output = stack.output()
            assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
            assert "Lambda authorizer failed" not in output, output
        functions_log = (tmp_path / "logs" / "functions.log").read_text()
        assert "Traceback" not in functions_log and "KeyboardInterrupt" not in functions_log
        assert functions_log.count("[ERROR] Exception: Unauthorized") == 1
    finally:
        stop_everything(stack)


def test_tokens_minted_before_a_restart_still_work_after_it(tmp_path):
    logto_port = free_port()
    first = start_make_local(tmp_path, logto_port)
    try:
        # The README's command, without AS= (make predefines AS; the default user is alice all the same).
        minted = subprocess.run(
            ["make", "-s", "--no-print-directory", "token", "KIND=org", "ORG=demo0org0001"],
            cwd=ROOT,
            env=first.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert minted.returncode == 0, minted.stderr
        token = minted.stdout.strip()
        headers = {"Authorization": f"Bearer {token}"}
        assert requests.get(f"{first.url}/organizations/demo0org0001", headers=headers, timeout=10).status_code == 200
        os.killpg(first.proc.pid, signal.SIGINT)
        first.output()
    finally:
        stop_everything(first)
    second = start_make_local(tmp_path, logto_port, reset="0")  # RESET=0 keeps the state (it used to wipe it)
    try:
        assert second.logto == first.logto  # the same issuer
        answer = requests.get(f"{second.url}/organizations/demo0org0001", headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
    finally:
        os.killpg(second.proc.pid, signal.SIGINT)
        second.output()
        stop_everything(second)


def test_the_stand_in_port_is_fixed_by_default_and_documented():
    from local import serve

    assert serve.DEFAULT_LOGTO_PORT == 3002
    assert "LOGTO_PORT" in (ROOT / "README.md").read_text()


# -- make invoke, every event ----------------------------------------------------------------------------------------
def documented_events() -> list[tuple[str, str, str]]:
    rows = re.findall(
        r"^\| `([a-z_]+\.json)` \| (\w+) \| ([^|]+?) \|", (ROOT / "events" / "README.md").read_text(), re.MULTILINE
    )
    return [(name, function, answer.strip()) for name, function, answer in rows]


def test_every_event_file_is_documented_once():
    names = [name for name, _, _ in documented_events()]
    assert sorted(names) == sorted(p.name for p in (ROOT / "events").glob("*.json"))


@pytest.fixture(scope="module")
def invoke_stack(tmp_path_factory) -> Iterator[MakeLocal]:
    stack = start_make_local(tmp_path_factory.mktemp("invoke"))
    yield stack
    os.killpg(stack.proc.pid, signal.SIGINT)
    stack.output()
    stop_everything(stack)


def make_invoke(stack: MakeLocal, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "-s", "--no-print-directory", "invoke", *args],
        cwd=ROOT,
        env={**stack.env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(("event", "function", "answer"), documented_events(), ids=lambda v: str(v))
def test_make_invoke_answers_what_events_readme_documents(invoke_stack, event, function, answer):
    assert requests.post(f"{invoke_stack.logto}/__dev/reset", timeout=10).status_code == 204
    done = make_invoke(invoke_stack, f"FN={function}", f"EVENT=events/{event}")
    response = json.loads(done.stdout)
    # The log lines Lambda (and `sam local invoke`) write around every invocation, on stderr, never on stdout.
    assert re.search(r"^START RequestId: \S+ Version: \$LATEST$", done.stderr, re.MULTILINE), done.stderr
    assert re.search(r"^REPORT RequestId: .*Duration: .* ms.*Init Duration: ", done.stderr, re.MULTILINE)
    if answer.startswith("error "):
        assert done.returncode != 0
        assert response["errorMessage"] == answer.removeprefix("error ")
    elif answer == "Allow":
        assert done.returncode == 0, done.stderr
        assert {s["Effect"] for s in response["policyDocument"]["Statement"]} == {"Allow"}
    elif answer == "done":
        assert done.returncode == 0, done.stderr
        assert response["failed"] == 0 and response["pending"] == 0
    else:
        assert done.returncode == 0, done.stderr
        assert response["statusCode"] == int(answer), response


def test_make_invoke_takes_a_folder_an_env_file_and_a_token(invoke_stack, tmp_path):
    assert requests.post(f"{invoke_stack.logto}/__dev/reset", timeout=10).status_code == 204
    done = make_invoke(invoke_stack, "FN=functions/list_members", "EVENT=events/list_members.json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["statusCode"] == 200
    # ENV= in `sam local invoke --env-vars` form reaches the function: a Logto that isn't there is a 5xx answer.
    env_file = tmp_path / "env.json"
    env_file.write_text(json.dumps({"ListMembersFunction": {"LOGTO_ENDPOINT": f"http://127.0.0.1:{free_port()}"}}))
    done = make_invoke(invoke_stack, "FN=list_members", "EVENT=events/list_members.json", f"ENV={env_file}")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["statusCode"] in (502, 503, 504)
    token = invoke_stack.token(kind="organization", userId="bob", organizationId="demo0org0001")
    done = make_invoke(invoke_stack, "FN=AuthorizerFunction", "EVENT=events/authorizer.json", f"TOKEN={token}")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["principalId"] == "bob"


def test_make_invoke_explains_what_is_missing(invoke_stack, tmp_path):
    no_fn = make_invoke(invoke_stack, "EVENT=events/health.json")
    assert no_fn.returncode != 0 and "FN is required" in no_fn.stderr and "ListMembersFunction" in no_fn.stderr
    unknown = make_invoke(invoke_stack, "FN=NoSuchFunction", "EVENT=events/health.json")
    assert unknown.returncode != 0 and "no function 'NoSuchFunction'" in unknown.stderr
    no_event = make_invoke(invoke_stack, "FN=HealthFunction")
    assert no_event.returncode != 0 and "EVENT is required" in no_event.stderr
    no_stack = make_invoke(
        invoke_stack, "FN=HealthFunction", "EVENT=events/health.json", env={"LOCAL_DATA": str(tmp_path)}
    )
    assert no_stack.returncode != 0 and "no running `make local`" in no_stack.stderr


def test_make_invoke_reports_the_template_s_memory_and_a_cold_start(invoke_stack):
    done = make_invoke(invoke_stack, "FN=HealthFunction", "EVENT=events/health.json")
    assert "Init Duration" in done.stderr  # a fresh worker: the init phase runs for this invocation
    memory = re.search(r"Memory Size: (\d+) MB", done.stderr)
    assert memory and memory.group(1) == template_value("MemorySize")


def template_value(key: str) -> str:
    match = re.search(rf"^\s+{key}: (\S+)$", (ROOT / "template.yaml").read_text(), re.MULTILINE)
    assert match
    return match.group(1)


def test_make_invoke_without_make_local_against_your_own_logto(invoke_stack, tmp_path):
    """LOGTO_ENDPOINT and the M2M credentials in the environment: no `make local` needed (here the stand-in plays the
    tenant); the credentials go into a Secrets Manager of the invocation's own, never into the function's environment."""
    from local.logto.credentials import M2M_APP_ID, M2M_APP_SECRET

    assert requests.post(f"{invoke_stack.logto}/__dev/reset", timeout=10).status_code == 204
    env = {
        "LOCAL_DATA": str(tmp_path),  # no run.json there: no running stack to lean on
        "LOGTO_ENDPOINT": invoke_stack.logto,
        "LOGTO_M2M_APP_ID": M2M_APP_ID,
        "LOGTO_M2M_APP_SECRET": M2M_APP_SECRET,
        "API_RESOURCE": "https://api.example.com/org",
    }
    done = make_invoke(invoke_stack, "FN=ListMembersFunction", "EVENT=events/list_members.json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["statusCode"] == 200
    assert M2M_APP_SECRET not in done.stderr + done.stdout
    missing = make_invoke(
        invoke_stack, "FN=ListMembersFunction", "EVENT=events/list_members.json", env={**env, "LOGTO_M2M_APP_ID": ""}
    )
    assert missing.returncode != 0 and "LOGTO_M2M_APP_ID" in missing.stderr


def test_a_second_make_local_on_the_same_state_folder_is_refused(invoke_stack):
    """Two stacks on one folder would share the stand-in's SQLite file, and the second's run.json would hide the
    first from `make token` and `make invoke` (and take it with it when it stops)."""
    env = {**invoke_stack.env, "PORT": str(free_port()), "CONSOLE_PORT": str(free_port())}
    env["LOGTO_PORT"] = str(free_port())
    done = subprocess.run(
        ["make", "-s", "--no-print-directory", "local"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "already running on " + invoke_stack.url in done.stderr and "LOCAL_DATA" in done.stderr
    assert json.loads((invoke_stack.data / "run.json").read_text())["url"] == invoke_stack.url  # still found
    assert requests.get(f"{invoke_stack.url}/health", timeout=10).status_code == 200


@pytest.mark.parametrize(
    ("placeholder", "said"),
    [
        ("KIND=bogus AS=alice ORG=demo0org0001", "KIND is one of org, org-api, global"),
        ("KIND=org AS=mallory ORG=demo0org0001", "the stand-in refused the event's token"),
    ],
)
def test_make_invoke_says_why_a_placeholder_token_cannot_be_made(invoke_stack, tmp_path, placeholder, said):
    event = json.loads((ROOT / "events" / "authorizer.json").read_text())
    event["authorizationToken"] = f"Bearer <paste a token from `make token {placeholder}`>"
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    done = make_invoke(invoke_stack, "FN=AuthorizerFunction", f"EVENT={path}")
    assert done.returncode != 0 and said in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_ctrl_c_during_make_invoke_stops_it_quietly(invoke_stack, tmp_path):
    """A function waiting on a Logto that never answers; Ctrl-C (SIGINT to the terminal's group) ends it all."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts, never answers
    env_file = tmp_path / "env.json"
    endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
    env_file.write_text(json.dumps({"Parameters": {"LOGTO_ENDPOINT": endpoint}}))
    proc = subprocess.Popen(
        [
            "make",
            "-s",
            "--no-print-directory",
            "invoke",
            "FN=ListMembersFunction",
            "EVENT=events/list_members.json",
            f"ENV={env_file}",
        ],
        cwd=ROOT,
        env=invoke_stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not any("worker.py" in _cmdline(pid) for pid in descendants(proc.pid)):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        time.sleep(0.5)
        processes = descendants(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
        assert "Traceback" not in stderr and "interrupted" in stderr, stderr
        assert not [pid for pid in processes if alive(pid)]
    finally:
        silent.close()
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
