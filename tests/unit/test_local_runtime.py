"""make local's Docker-free Lambda runtime (local/runtime.py): what a function's process gets to see."""

from __future__ import annotations

from types import SimpleNamespace

from local.runtime import RUNTIME_VARIABLES, SubprocessRuntime


def test_a_function_sees_the_template_environment_not_the_shell_that_started_make_local(monkeypatch):
    """LOGTO_ENDPOINT mode reads the M2M credentials from the shell; they belong in Secrets Manager only (CONTRACT.md
    "Local run"), never in a function's environment, and nor does anything else a deployed function would lack."""
    monkeypatch.setenv("LOGTO_M2M_APP_ID", "m2m-app")
    monkeypatch.setenv("LOGTO_M2M_APP_SECRET", "the-secret")
    monkeypatch.setenv("SOME_DEVELOPER_SETTING", "x")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    template_env = {"LOGTO_ENDPOINT": "https://tenant.logto.app", "M2M_SECRET_ID": "logto-org-api/local/m2m"}
    config = SimpleNamespace(env_vars=SimpleNamespace(resolve=lambda: template_env))
    runtime = SubprocessRuntime("python", extra_env={"AWS_ENDPOINT_URL": "http://127.0.0.1:1"})

    env = runtime._env(config)

    passed_through = {k: v for k, v in env.items() if k in RUNTIME_VARIABLES}
    assert env == {**template_env, "AWS_ENDPOINT_URL": "http://127.0.0.1:1", **passed_through}
    assert passed_through["PATH"] == "/usr/bin:/bin"
    assert "the-secret" not in env.values() and "LOGTO_M2M_APP_ID" not in env and "SOME_DEVELOPER_SETTING" not in env


class Collect:
    def __init__(self) -> None:
        self.text = ""

    def write_str(self, text: str) -> None:
        self.text += text


def function(tmp_path, source: str, timeout: float = 1) -> SimpleNamespace:
    (tmp_path / "app.py").write_text(source)
    return SimpleNamespace(
        code_abs_path=str(tmp_path),
        layers=[],
        name="Probe",
        handler="app.handler",
        memory=128,
        timeout=timeout,
        full_path="Probe",
        env_vars=SimpleNamespace(resolve=dict),
    )


def test_a_function_past_its_timeout_is_ended_and_logged_as_lambda_logs_it(tmp_path):
    import json
    import sys

    log_path = tmp_path / "functions.log"
    with log_path.open("w") as log:
        runtime = SubprocessRuntime(sys.executable, log=log)
        out = Collect()
        config = function(tmp_path, "import time\ndef handler(event, context):\n    time.sleep(30)\n", timeout=1)
        runtime.invoke(config, "{}", stdout=out)
        runtime.stop()
    assert json.loads(out.text)["errorType"] == "Sandbox.Timedout"
    text = log_path.read_text()
    assert "START RequestId:" in text and "Task timed out after 1.00 seconds" in text


def test_an_invocation_is_framed_by_start_end_report_and_an_error_has_lambda_s_payload(tmp_path):
    import json
    import sys

    log_path = tmp_path / "functions.log"
    with log_path.open("w") as log:
        runtime = SubprocessRuntime(sys.executable, log=log)
        out = Collect()
        config = function(tmp_path, "def handler(event, context):\n    raise ValueError('nope')\n")
        runtime.invoke(config, "{}", stdout=out)
        runtime.stop()
    payload = json.loads(out.text)
    # The keys SAM recognises as a function error (LambdaOutputParser.is_lambda_error_response): no more, no fewer.
    assert set(payload) == {"errorMessage", "errorType", "stackTrace"}
    assert payload["errorType"] == "ValueError" and "app.py" in payload["stackTrace"][-1]
    text = log_path.read_text()
    for line in ("INIT_START", "START RequestId:", "[ERROR] ValueError: nope", "END RequestId:", "REPORT RequestId:"):
        assert line in text
    assert "Init Duration:" in text and "Memory Size: 128 MB" in text


def test_a_connection_of_the_last_run_in_time_wait_does_not_count_as_a_taken_port():
    """The server closes first (werkzeug does on `Connection: close`), which leaves its side in TIME_WAIT for a minute;
    werkzeug binds with SO_REUSEADDR, so the start-up check must too, or a quick restart is refused."""
    import socket

    from local.serve import ensure_port_free

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server's side closes first: TIME_WAIT is on the server's port
    client.recv(1)
    client.close()
    server.close()
    ensure_port_free(port)


def test_the_machine_s_ca_bundle_and_proxies_reach_a_function(monkeypatch):
    """A real Logto over https from behind a proxy or a company CA: what the worker needs to reach it."""
    monkeypatch.setenv("SSL_CERT_FILE", "/etc/ssl/ca.pem")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    config = SimpleNamespace(env_vars=SimpleNamespace(resolve=dict))
    env = SubprocessRuntime("python")._env(config)
    assert env["SSL_CERT_FILE"] == "/etc/ssl/ca.pem" and env["HTTPS_PROXY"] == "http://proxy:3128"


def test_make_local_s_helpers_get_no_m2m_credentials():
    from local.serve import without_credentials

    shell = {"PATH": "/bin", "LOGTO_M2M_APP_ID": "a", "LOGTO_M2M_APP_SECRET": "s", "LOGTO_ENDPOINT": "https://t"}
    assert without_credentials(shell) == {"PATH": "/bin", "LOGTO_ENDPOINT": "https://t"}


def test_a_state_folder_held_by_a_starting_stack_is_refused_before_anything_starts(tmp_path):
    """The folder is claimed when a stack starts, not when it is ready (run.json), so two starting together can't
    share it. The lock is the kernel's: it goes with its holder, kill -9 included."""
    import fcntl
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    with (tmp_path / "serve.lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        done = subprocess.run(
            [str(root / ".venv-tools" / "bin" / "python"), "-m", "local.serve", "--data", str(tmp_path)],
            cwd=root,
            env={**os.environ, "PYTHONPATH": str(root), "PORT": "1", "CONSOLE_PORT": "2"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert "is already starting with this state folder" in done.stderr and "LOCAL_DATA" in done.stderr


def test_the_banner_tells_the_other_terminal_where_this_stack_s_state_is(tmp_path):
    from local.serve import ROOT, banner

    elsewhere = banner("http://127.0.0.1:3000", "http://127.0.0.1:3002", False, "http://c", "http://c", tmp_path)
    assert f"TOKEN=$(LOCAL_DATA={tmp_path} make -s token KIND=org" in elsewhere
    default = banner("http://127.0.0.1:3000", "http://127.0.0.1:3002", False, "http://c", "http://c", ROOT / ".local")
    assert "TOKEN=$(make -s token KIND=org" in default and "state in .local/" in default


def test_env_file_values_reach_sam_as_written_for_it_to_stringify(tmp_path):
    """SAM's EnvironmentVariables turns null/lists into "" and true into "true" (as `sam local invoke` does); a
    str() here had made them "None" and "True"."""
    import json

    from local.invoke import read_env_vars

    path = tmp_path / "env.json"
    path.write_text(json.dumps({"Parameters": {"LIVE_PERMISSIONS": None, "CREATOR_ROLE": True}}))
    assert read_env_vars(str(path)) == {"Parameters": {"LIVE_PERMISSIONS": None, "CREATOR_ROLE": True}}
