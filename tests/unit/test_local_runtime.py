"""make local's Docker-free Lambda runtime (local/runtime.py): what a function's process gets to see."""

from __future__ import annotations

from types import SimpleNamespace

from local.runtime import SubprocessRuntime


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

    assert env == {**template_env, "AWS_ENDPOINT_URL": "http://127.0.0.1:1", "PATH": "/usr/bin:/bin"} | {
        k: v for k, v in env.items() if k in ("HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")
    }
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
