"""The Makefile as a newcomer types it (issue 12): what the tools behind the targets receive, and `make help`."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def yes_no(value: str) -> bool:
    from local.serve import yes_no as parse  # the switch make local's server applies to RESET= and VERBOSE=

    return parse(value)


USER_VARIABLES = (
    "AS",
    "APP",
    "API",
    "KIND",
    "ORG",
    "SCOPES",
    "RESET",
    "VERBOSE",
    "FN",
    "EVENT",
    "ENV",
    "TOKEN",
    "MAKEFLAGS",
)
PRINT_ARGV = f"python3 {ROOT / 'tests' / 'support' / 'print_argv.py'}"


def received(*args: str, **env: str) -> list[str]:
    """The arguments the tool behind a make target receives, as it receives them: make runs the recipe with its
    interpreter replaced by one that prints them (the virtualenv prerequisites left out, not what is under test)."""
    clean = {k: v for k, v in os.environ.items() if k not in USER_VARIABLES}
    done = subprocess.run(
        [
            "make",
            "-s",
            "--no-print-directory",
            "-o",
            "venv",
            "-o",
            "tools",
            *args,
            f"PY={PRINT_ARGV}",
            f"TOOLS_PY={PRINT_ARGV}",
        ],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def test_make_token_defaults_to_alice_although_make_predefines_as():
    assert option(received("token", "KIND=org", "ORG=demo0org0001"), "--user") == "alice"


def test_make_token_takes_as_from_the_command_line_or_the_environment():
    assert option(received("token", "KIND=org", "ORG=demo0org0001", "AS=bob"), "--user") == "bob"
    assert option(received("token", "KIND=global", AS="carol"), "--user") == "carol"


def test_make_token_passes_kind_org_scopes_and_an_application():
    argv = received("token", "KIND=org-api", "ORG=o1", "SCOPES=member:read org:update")
    assert argv[2] == "org-api" and option(argv, "--org") == "o1"
    assert option(argv, "--scopes") == "member:read org:update"
    assert option(received("token", "KIND=global", "SCOPES="), "--scopes") == ""  # no scopes, not all of them
    assert "--scopes" not in received("token", "KIND=global")
    machine = received("token", "KIND=org", "APP=demo-m2m-app", "ORG=o1")
    assert option(machine, "--app") == "demo-m2m-app" and "--user" not in machine


def test_quotes_dollars_and_spaces_in_a_value_are_text_not_shell(tmp_path):
    """A value used to be pasted into the recipe between single quotes: a `'` in it ended the quoting and the rest ran
    as shell code."""
    marker = tmp_path / "ran"
    evil = f"x'; touch {marker}; echo '"
    # (A `$(...)` on make's command line is make's own syntax, which make expands wherever it exports the variable:
    # that is make, not the recipe, and not something a value can do by accident.)
    argv = received("token", "KIND=org", f"AS={evil}", "ORG=Bob's org")
    assert option(argv, "--user") == evil and option(argv, "--org") == "Bob's org"
    argv = received("invoke", f"FN={evil}", "EVENT=/tmp/Bob's events/x.json")
    assert argv[2] == evil and option(argv, "--event") == "/tmp/Bob's events/x.json"
    assert option(received("local", f"RESET={evil}"), "--reset") is None  # passed as --reset=<value>, below
    assert f"--reset={evil}" in received("local", f"RESET={evil}")
    assert not marker.exists()


@pytest.mark.parametrize("value", ["0", "no", "false", "off", ""])
def test_make_local_reset_no_keeps_the_state(value):
    assert f"--reset={value}" in received("local", f"RESET={value}")
    assert yes_no(value) is False


@pytest.mark.parametrize("value", ["1", "yes", "true", "on", "YES"])
def test_make_local_reset_yes_starts_from_the_seed(value):
    assert f"--reset={value}" in received("local", f"RESET={value}")
    assert yes_no(value) is True


def test_a_switch_that_is_neither_yes_nor_no_is_an_error_not_a_yes():
    with pytest.raises(argparse.ArgumentTypeError, match="got 'maybe'"):
        yes_no("maybe")
    done = serve("--reset=maybe")
    assert done.returncode == 2 and "--reset: expected one of" in done.stderr


def serve(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ROOT / ".venv-tools" / "bin" / "python"), "-m", "local.serve", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORT", "abc"),
        ("PORT", ""),
        ("PORT", "99999"),
        ("LOGTO_PORT", "x"),
        ("CONSOLE_PORT", "-1"),
        ("REAUTHORIZE_EVERY", "soon"),
        ("CLEANUP_EVERY", "often"),
    ],
)
def test_a_bad_number_in_a_setting_is_one_line_naming_it_not_a_traceback(variable, value):
    done = serve(**{variable: value})
    assert done.returncode == 2, done.stderr
    assert variable in done.stderr and repr(value) in done.stderr and "Traceback" not in done.stderr


def test_make_local_verbose():
    assert "--verbose=1" in received("local", "VERBOSE=1")


def test_make_invoke_takes_env_and_token_from_the_command_line_only():
    """sh uses ENV for its start-up file, some images export it, and TOKEN is a common name in a shell: neither must
    reach make invoke unless given on its command line."""
    argv = received("invoke", "FN=HealthFunction", "EVENT=e.json", "ENV=my-env.json", "TOKEN=abc")
    assert option(argv, "--env-vars") == "my-env.json" and option(argv, "--token") == "abc"
    argv = received("invoke", "FN=HealthFunction", "EVENT=e.json", ENV="/etc/profile", TOKEN="abc")
    assert "--env-vars" not in argv and "--token" not in argv


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


def test_make_logto_setup_hands_its_modes_to_the_tool(tmp_path):
    """APPLY=, CHECK= reach `python -m tenant` (which refuses both at once), LOCAL_DATA= too; one line, exit 2."""
    clean = {k: v for k, v in os.environ.items() if k not in (*USER_VARIABLES, "LOGTO_ENDPOINT", "APPLY", "CHECK")}
    both = subprocess.run(
        ["make", "-s", "--no-print-directory", "-o", "venv", "logto-setup", "APPLY=1", "CHECK=1"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
    )
    assert both.returncode == 2 and both.stderr.startswith("error: APPLY=1 and CHECK=1 together"), both.stderr
    none = subprocess.run(
        ["make", "-s", "--no-print-directory", "-o", "venv", "logto-setup", "CHECK=1", f"LOCAL_DATA={tmp_path}"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
    )
    assert none.returncode == 2 and f"no `make local` runs on {tmp_path}" in none.stderr, none.stderr


def test_make_smoke_passes_a_deployed_stacks_url_from_the_command_line_or_the_environment():
    assert option(received("smoke", "API=https://x.example/Prod"), "--api") == "https://x.example/Prod"
    assert option(received("smoke", API="https://y.example/Prod"), "--api") == "https://y.example/Prod"
    assert option(received("smoke"), "--api") == ""  # none: a `make local` is started for the run
