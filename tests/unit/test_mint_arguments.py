"""local.mint (`make token`) refuses a kind/organization combination that cannot make sense before it asks the stand-in:
one line on stderr that says how to call it right, exit code 2. Run as `make token` runs it, in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _mint(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    # --data: a folder with no run.json, so what gets past validation stops at "not running", whatever runs here
    return subprocess.run(
        [sys.executable, "-m", "local.mint", *args, "--data", str(data)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("kind", ["org", "org-api"])
def test_an_organization_token_without_an_organization_asks_for_one(kind: str, tmp_path: Path) -> None:
    result = _mint(kind, "--user", "alice", data=tmp_path)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"error: KIND={kind} needs an organization: ORG=<organization id> (make token) or --org <organization id>\n"
    )


def test_a_global_token_with_an_organization_is_refused_not_ignored(tmp_path: Path) -> None:
    result = _mint("global", "--user", "carol", "--org", "demo0org0001", data=tmp_path)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(
        "error: KIND=global is a global API token and carries no organization: leave out ORG"
    )
    assert "KIND=org-api" in result.stderr


def test_a_global_token_for_an_application_is_refused(tmp_path: Path) -> None:
    result = _mint("global", "--app", "demo-m2m-app", data=tmp_path)

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "error: KIND=global is for users: an application (--app) gets org or org-api tokens\n"


@pytest.mark.parametrize(
    "args",
    [
        ["org", "--user", "alice", "--org", "demo0org0001"],
        ["org-api", "--user", "alice", "--org", "demo0org0001"],
        ["global", "--user", "carol"],
        ["org", "--app", "demo-m2m-app", "--org", "demo0org0001"],
    ],
)
def test_a_valid_combination_gets_past_validation(args: list[str], tmp_path: Path) -> None:
    result = _mint(*args, data=tmp_path)

    assert result.returncode == 1
    assert result.stderr == "error: the local stack is not running; start it with `make local`\n"
