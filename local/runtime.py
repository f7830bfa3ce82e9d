"""A Docker-free stand-in for SAM CLI's Lambda runtime: each function runs in warm worker subprocesses on the project's
interpreter (python3.13 like the Lambda runtime), with the function code and the layer on its path.

Duck-types samcli.local.lambdafn.runtime.LambdaRuntime.invoke, so SAM keeps doing function lookup, layer resolution and
environment variables from template.yaml. Concurrent requests get separate workers (like Lambda's concurrency), up to
`max_workers` per function.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

WORKER = str(Path(__file__).with_name("worker.py"))
# Passed through from the host: what the interpreter needs to start, what Lambda's runtime also sets (TZ, LANG), and
# how this machine reaches the network (its CA bundle and proxies), which a real Logto over https may need.
RUNTIME_VARIABLES = (
    *("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SYSTEMROOT"),
    *("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"),
    *("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"),
)


class Worker:
    def __init__(self, python: str, config: Any, env: dict[str, str], log: IO[str] | None):
        paths = [config.code_abs_path]
        for layer in config.layers or []:
            root = os.path.abspath(layer.codeuri)
            paths += [os.path.join(root, "python"), root]
        env = {**env, "PYTHONPATH": os.pathsep.join(paths)}
        self.log = log
        self.proc = subprocess.Popen(
            [python, "-P", WORKER, config.name, config.handler, str(config.memory), str(config.timeout)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log or None,
            env=env,
            cwd=config.code_abs_path,
            text=True,
            bufsize=1,
        )

    def invoke(self, event: str, timeout: float) -> dict[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(event.replace("\n", " ") + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.stop()
            # What Lambda writes to the log stream when it ends an invocation at the function's Timeout.
            print(f"Task timed out after {timeout:.2f} seconds", file=self.log or sys.stderr, flush=True)
            return {
                "err": {"errorMessage": f"Task timed out after {timeout:.2f} seconds", "errorType": "Sandbox.Timedout"}
            }
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            print(
                "Runtime exited before answering (the function's process ended)",
                file=self.log or sys.stderr,
                flush=True,
            )
            return {"err": {"errorMessage": "Runtime exited", "errorType": "Runtime.ExitError"}}
        return json.loads(line)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.alive:
            self.proc.kill()
        self.proc.wait()


class SubprocessRuntime:
    def __init__(
        self,
        python: str,
        extra_env: dict[str, str] | None = None,
        max_workers: int = 4,
        log: IO[str] | None = None,
        function_env: Callable[[str], dict[str, str]] | None = None,
    ):
        self.python, self.extra_env, self.max_workers, self.log = python, extra_env or {}, max_workers, log
        self.function_env = function_env  # per function, after extra_env: its own role's credentials
        self._idle: dict[str, list[Worker]] = {}
        self._count: Counter[str] = Counter()
        self._cond = threading.Condition()
        self.invocations: Counter[str] = Counter()
        self.workers_started: Counter[str] = Counter()

    def _env(self, config: Any) -> dict[str, str]:
        """What a Lambda function sees: the template's environment and the runtime's own variables, nothing else of
        the shell that started `make local` (it may hold LOGTO_M2M_APP_SECRET, which must only live in Secrets
        Manager, and settings the deployed function would never have)."""
        base = {k: os.environ[k] for k in RUNTIME_VARIABLES if k in os.environ}
        base.update({k: str(v) for k, v in config.env_vars.resolve().items()})
        base.update(self.extra_env)
        if self.function_env is not None:
            base.update(self.function_env(config.name))
        return base

    def _acquire(self, config: Any) -> Worker:
        key = config.full_path
        with self._cond:
            while True:
                idle = self._idle.setdefault(key, [])
                while idle:
                    worker = idle.pop()
                    if worker.alive:
                        return worker
                    self._count[key] -= 1
                if self._count[key] < self.max_workers:
                    self._count[key] += 1
                    break
                self._cond.wait()
        try:
            self.workers_started[config.name] += 1
            return Worker(self.python, config, self._env(config), self.log)
        except Exception:
            with self._cond:
                self._count[key] -= 1
                self._cond.notify()
            raise

    def _release(self, config: Any, worker: Worker) -> None:
        with self._cond:
            if worker.alive:
                self._idle[config.full_path].append(worker)
            else:
                self._count[config.full_path] -= 1
            self._cond.notify()

    def invoke(
        self, function_config: Any, event: str, tenant_id: Any = None, stdout: Any = None, stderr: Any = None, **_: Any
    ) -> None:
        worker = self._acquire(function_config)
        try:
            result = worker.invoke(event, float(function_config.timeout))
        finally:
            self._release(function_config, worker)
        self.invocations[function_config.name] += 1
        payload = result["ok"] if "ok" in result else result["err"]
        if stdout is not None:
            stdout.write_str(json.dumps(payload))
        return None

    def stop(self) -> None:
        with self._cond:
            for workers in self._idle.values():
                for worker in workers:
                    worker.stop()
            self._idle.clear()


if __name__ == "__main__":  # pragma: no cover
    sys.exit("local/runtime.py is a library; run `make local`")
