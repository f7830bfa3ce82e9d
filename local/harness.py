"""Start the local stack (`make local`'s own entry point, local.serve) as a child process on free ports, for the e2e
and browser tests, `make chaos` and `make smoke`: one way to start it, wait for it, read its output and stop it.

The stack writes `run.json` into its data folder once it listens; that file says where everything is. Its output is
drained on a thread (a full pipe would block the server) and kept by line.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from local.serve import free_port

ROOT = Path(__file__).resolve().parent.parent
TOOLS_PYTHON = ROOT / ".venv-tools" / "bin" / "python"
APP_PYTHON = ROOT / ".venv" / "bin" / "python"
# What a developer's shell may hold that would point the stack elsewhere than its own stand-in and defaults.
SHELL_SETTINGS = ("LOGTO_ENDPOINT", "API_RESOURCE", "PORT", "ALLOWED_ORIGINS")


class StackFailed(RuntimeError):
    """The stack exited or did not answer in time; the message holds what it printed."""


@dataclass
class RunningStack:
    proc: subprocess.Popen[str]
    data: Path
    info: dict[str, Any]  # run.json: url, logto, console, aws, functionEnv, ...
    output: list[str] = field(default_factory=list)  # what the stack printed so far, by line

    @property
    def url(self) -> str:
        return self.info["url"]

    @property
    def logto(self) -> str:
        return self.info["logto"]

    @property
    def console(self) -> str:
        return self.info["console"]

    def stop(self, timeout: float = 15) -> None:
        """Ctrl-C, as a developer stops it; then the whole process group, if it did not stop in time."""
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


def start(
    data: Path,
    *,
    env: Mapping[str, str] | None = None,
    args: Iterable[str] = (),
    workers: int | None = 2,  # None: local.serve's own default
    reset: bool = True,
    timeout: float = 90,
) -> RunningStack:
    """The stack on free ports (API, console, stand-in), its state in `data`; `env` adds to (or, with "", removes
    from) the environment, after the developer's own Logto settings are removed."""
    base = {k: v for k, v in os.environ.items() if k not in SHELL_SETTINGS}
    base["PYTHONPATH"] = str(ROOT)
    for name, value in (env or {}).items():
        if value == "":
            base.pop(name, None)
        else:
            base[name] = value
    argv = [str(TOOLS_PYTHON), "-m", "local.serve", "--app-python", str(APP_PYTHON), "--data", str(data)]
    argv += ["--port", str(free_port()), "--console-port", str(free_port()), "--logto-port", "0"]
    argv += [*(["--workers", str(workers)] if workers else []), *(["--reset"] if reset else []), *args]
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=base, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    stack = RunningStack(proc, data, {})

    def keep_output() -> None:
        assert proc.stdout is not None
        for line in iter(proc.stdout.readline, ""):
            stack.output.append(line)

    threading.Thread(target=keep_output, daemon=True, name="stack-output").start()
    run_file, deadline = data / "run.json", time.monotonic() + timeout
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            stack.stop(timeout=5)
            time.sleep(0.2)  # the reader thread takes the last lines
            raise StackFailed(f"local stack did not start (exit code {proc.returncode}):\n" + "".join(stack.output))
        try:
            stack.info = json.loads(run_file.read_text())
            break
        except (FileNotFoundError, ValueError):  # not there yet, or seen half written
            time.sleep(0.1)
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{stack.url}/health", timeout=5).status_code == 200:
                return stack
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    stack.stop(timeout=5)
    raise StackFailed("local stack did not answer /health:\n" + "".join(stack.output))
