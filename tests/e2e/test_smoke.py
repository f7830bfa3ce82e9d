"""`make smoke` against the stand-in, taken as a real tenant is (LOGTO_ENDPOINT, the M2M app, API= the running stack):
subject tokens and the token-exchange grant give the throwaway users their tokens, every route of the contract and
the probes pass, and everything the run created is gone afterwards, also when it is stopped half-way."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

from local.harness import ROOT
from local.logto.credentials import M2M_APP_ID, M2M_APP_SECRET

API_RESOURCE = "https://api.example.com/org"  # the e2e stack's (local.serve's default)


def _env(stack) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMOKE_", "LOGTO_")) and k != "API"}
    return {
        **env,
        "LOGTO_ENDPOINT": stack.logto,
        "LOGTO_M2M_APP_ID": M2M_APP_ID,
        "LOGTO_M2M_APP_SECRET": M2M_APP_SECRET,
        "API_RESOURCE": API_RESOURCE,
    }


def _left_behind(stack, run: str) -> list[str]:
    info = stack.http.get(f"{stack.logto}/__dev/info", timeout=5).json()
    users = [u["id"] for u in info["users"] if (u["email"] or "").startswith(f"smoke-{run}-")]
    orgs = [o["id"] for o in info["organizations"] if run in o["name"]]
    apps = [a["id"] for a in info["applications"] if run in a["name"]]
    return users + orgs + apps


def test_make_smoke_passes_against_the_stand_in_and_leaves_nothing_behind(stack):
    done = subprocess.run(
        ["make", "-s", "--no-print-directory", "smoke", f"API={stack.url}"],
        cwd=ROOT,
        env=_env(stack),
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    assert not [line for line in lines if line.startswith("FAIL")]
    assert "ok   every route of the contract was called" in lines
    assert re.search(r"^smoke: \d+ passed, 0 failed$", done.stdout, re.MULTILINE)
    run = re.search(r"run ([0-9a-f]{8})", done.stdout).group(1)
    assert _left_behind(stack, run) == []
    # no token or secret on the terminal: the stand-in's tokens are JWTs (eyJ...), its M2M secret is known
    assert "eyJ" not in done.stdout + done.stderr and M2M_APP_SECRET not in done.stdout + done.stderr


def test_make_smoke_stopped_half_way_removes_what_it_created_and_fails(stack):
    proc = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "local.smoke", "--api", stack.url],
        cwd=ROOT,
        env={**_env(stack), "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen.append(line)
        if line.startswith("set-up:") or not line:
            break
    run = re.search(r"run ([0-9a-f]{8})", "".join(seen)).group(1)
    assert _left_behind(stack, run)  # the throwaway users exist now
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1, rest
    assert "interrupted: cleaning up" in rest and "ok   clean-up: everything this run created is removed" in rest
    assert _left_behind(stack, run) == []
