"""The Makefile as a newcomer types it (issue 12): the commands make would run (`make -n`), and `make help`."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def yes_no(value: str) -> bool:
    from local.serve import yes_no as parse  # the switch make local's server applies to RESET= and VERBOSE=

    return parse(value)


def dry_run(*args: str, **env: str) -> str:
    """The recipe make would run, with the virtualenv prerequisites left out (they are not what is under test)."""
    clean = {
        k: v for k, v in os.environ.items() if k not in ("AS", "KIND", "ORG", "RESET", "ENV", "TOKEN", "MAKEFLAGS")
    }
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", "-o", "venv", "-o", "tools", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.replace("\\\n", " ")


def test_make_token_defaults_to_alice_although_make_predefines_as():
    assert "--user 'alice'" in dry_run("token", "KIND=org", "ORG=demo0org0001")


def test_make_token_takes_as_from_the_command_line_or_the_environment():
    assert "--user 'bob'" in dry_run("token", "KIND=org", "ORG=demo0org0001", "AS=bob")
    assert "--user 'carol'" in dry_run("token", "KIND=global", AS="carol")


def test_make_token_passes_kind_org_and_scopes():
    command = dry_run("token", "KIND=org-api", "ORG=o1", "SCOPES=member:read org:update")
    assert "local.mint 'org-api'" in command and "--org 'o1'" in command
    assert "--scopes 'member:read org:update'" in command


@pytest.mark.parametrize("value", ["0", "no", "false", "off", ""])
def test_make_local_reset_no_keeps_the_state(value):
    command = dry_run("local", f"RESET={value}")
    assert f"--reset='{value}'" in command
    assert yes_no(value) is False


@pytest.mark.parametrize("value", ["1", "yes", "true", "on", "YES"])
def test_make_local_reset_yes_starts_from_the_seed(value):
    assert f"--reset='{value}'" in dry_run("local", f"RESET={value}")
    assert yes_no(value) is True


def test_a_switch_that_is_neither_yes_nor_no_is_an_error_not_a_yes():
    with pytest.raises(argparse.ArgumentTypeError, match="got 'maybe'"):
        yes_no("maybe")
    done = subprocess.run(
        [str(ROOT / ".venv-tools" / "bin" / "python"), "-m", "local.serve", "--reset=maybe"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "--reset: expected one of" in done.stderr


def test_make_local_verbose():
    assert "--verbose='1'" in dry_run("local", "VERBOSE=1")


def test_make_invoke_takes_env_from_the_command_line_only():
    """sh uses ENV for its start-up file, and some images export it: that must not become `--env-vars`."""
    assert "--env-vars 'my-env.json'" in dry_run("invoke", "FN=HealthFunction", "EVENT=e.json", "ENV=my-env.json")
    assert "--env-vars" not in dry_run("invoke", "FN=HealthFunction", "EVENT=e.json", ENV="/etc/profile")


def test_make_help_lists_every_documented_target_and_expands_port():
    done = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    documented = re.findall(r"^([a-z0-9-]+):.*## ", (ROOT / "Makefile").read_text(), re.MULTILINE)
    listed = re.findall(r"^  make (\S+)", done.stdout, re.MULTILINE)
    assert "e2e" in documented
    assert listed == documented
    assert "$(" not in done.stdout
    assert "http://127.0.0.1:3000" in done.stdout
    with_port = subprocess.run(
        ["make", "--no-print-directory", "help", "PORT=4100"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "http://127.0.0.1:4100" in with_port.stdout


def test_the_readme_runs_python_modules_through_make_or_a_virtualenv():
    """`python -m local.serve` does not work with a plain python (no samcli): every such line names its interpreter."""
    for line in (ROOT / "README.md").read_text().splitlines():
        for match in re.finditer(r"(\S*)python3? -m local\.", line):
            assert match.group(1).endswith("/bin/"), line
