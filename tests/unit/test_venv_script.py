"""scripts/venv.sh, which every make target runs first: steps, progress and errors as a newcomer sees them.

Each test creates a real virtualenv and runs the real pip, but against a package index served on loopback from
wheels the test builds (so no network, and the same on any machine): pip's own config is switched off for the run.
"""

from __future__ import annotations

import functools
import os
import pty
import re
import subprocess
import threading
import zipfile
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "venv.sh"
PACKAGES = [f"tiny{n:02d}" for n in range(1, 13)]  # tiny01 needs the eleven others: one requirement, twelve pins


def _wheel(folder: Path, name: str, requires: list[str]) -> None:
    """A minimal pure-Python wheel (PEP 427): one module and its dist-info."""
    info = f"{name}-1.0.dist-info"
    files = {
        f"{name}.py": "VALUE = 1\n",
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: {}\nVersion: 1.0\n{}".format(
            name, "".join(f"Requires-Dist: {r}\n" for r in requires)
        ),
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{path},,\n" for path in [*files, f"{info}/RECORD"])
    with zipfile.ZipFile(folder / f"{name}-1.0-py3-none-any.whl", "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PEP 503 simple index: http.server's listing of simple/<name>/ links that folder's wheel."""
    root = tmp_path_factory.mktemp("index")
    for name in PACKAGES:
        (root / "simple" / name).mkdir(parents=True)
        _wheel(root / "simple" / name, name, PACKAGES[1:] if name == PACKAGES[0] else [])
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/simple/"
    server.shutdown()


def _files(tmp_path: Path, requirement: str) -> tuple[Path, Path]:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"# what the venv is for\n{requirement}\n")
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("# every transitive dependency pinned\n" + "".join(f"{n}==1.0\n" for n in PACKAGES))
    return requirements, constraints


def _env(index: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    # No pip config files (this machine's name local indexes); our index, plus one extra location that does not
    # exist: pip warns "WARNING: Location '...' is ignored" for it, which the script must filter out.
    return env | {
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_INDEX_URL": index,
        "PIP_EXTRA_INDEX_URL": (tmp_path / "missing-index").as_uri(),
        "PIP_NO_CACHE_DIR": "1",
    }


def _run(
    venv: Path, requirements: Path, constraints: Path, env: dict[str, str], **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), str(venv), str(requirements), str(constraints)],
        cwd=ROOT,  # the script hashes layers/common/requirements.txt, relative to the repository root
        env=env,
        text=True,
        timeout=120,
        **kwargs,
    )


def test_first_run_reports_steps_and_progress_and_a_current_venv_says_nothing(index: str, tmp_path: Path) -> None:
    requirements, constraints = _files(tmp_path, "tiny01")
    venv, env = tmp_path / "venv", _env(index, tmp_path)

    first = _run(venv, requirements, constraints, env, capture_output=True)

    assert first.returncode == 0, first.stderr
    assert first.stdout == ""
    # (scripts/python.sh adds a "note:" line first on a machine without Python 3.13)
    lines = [line for line in first.stderr.splitlines() if not line.startswith("note: ")]
    assert re.fullmatch(rf"\[1/3\] creating {re.escape(str(venv))} \(Python 3\.\d+\.\d+\)", lines[0])
    assert re.fullmatch(r"\[2/3\] installing 12 pinned packages \(first run: about \d+ s\)", lines[1])
    # Not a terminal: a line per ten packages and one for the last, no carriage returns.
    assert re.fullmatch(r"  \[10/12\] tiny\d\d", lines[2])
    assert re.fullmatch(r"  \[12/12\] tiny\d\d", lines[3])
    assert lines[4] == f"  [12/12] collected; installing them into {venv}"
    # while pip unpacks: a line per ten landed (if it takes more than a second), then the count of what did
    assert all(re.fullmatch(r"  \[1\d/12\] installed", line) for line in lines[5:-2]), lines
    assert lines[-2] == "  [12/12] installed"
    assert re.fullmatch(r"\[3/3\] done in \d+ s", lines[-1])
    assert len(lines) <= 8  # no pip text, no "WARNING: Location" for the missing index
    assert "\r" not in first.stderr
    imported = subprocess.run([venv / "bin" / "python", "-c", "import tiny01, tiny12"], capture_output=True)
    assert imported.returncode == 0, imported.stderr

    second = _run(venv, requirements, constraints, env, capture_output=True)

    assert (second.returncode, second.stdout, second.stderr) == (0, "", "")


def test_on_a_terminal_progress_rewrites_one_line_per_package(index: str, tmp_path: Path) -> None:
    requirements, constraints = _files(tmp_path, "tiny01")
    venv = tmp_path / "venv"
    main, secondary = pty.openpty()
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the terminal closed: the script has ended
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        result = _run(venv, requirements, constraints, _env(index, tmp_path), stdout=subprocess.PIPE, stderr=secondary)
    finally:
        os.close(secondary)
        reader.join(timeout=10)
        os.close(main)

    screen = b"".join(chunks).decode().replace("\r\n", "\n")  # the terminal turns each \n into \r\n
    assert result.returncode == 0, screen
    assert "\n[2/3] installing 12 pinned packages (first run: about " in screen
    rewritten = re.findall(r"\r\x1b\[K  \[(\d+)/12\] ([^\r\n]*)", screen)
    collecting, installing = rewritten[:13], rewritten[13:]
    assert [int(n) for n, _ in collecting] == [*range(1, 13), 12]
    assert collecting[0][1] == "tiny01"
    assert sorted(name for _, name in collecting[1:-1]) == PACKAGES[1:]
    assert collecting[-1][1] == f"collected; installing them into {venv}"
    # a count of what has landed each second while pip unpacks, the last one after it ended
    assert {name for _, name in installing} == {"installed"}
    assert installing[-1] == ("12", "installed")
    assert re.search(r"\] installed\n\[3/3\] done in \d+ s\n$", screen)  # the rewritten line is ended first


def test_a_package_pip_cannot_find_fails_loudly_with_pips_own_error(index: str, tmp_path: Path) -> None:
    requirements, constraints = _files(tmp_path, "tiny01\nno-such-package-anywhere")
    venv = tmp_path / "venv"

    result = _run(venv, requirements, constraints, _env(index, tmp_path), capture_output=True)

    assert result.returncode != 0
    assert "ERROR: No matching distribution found for no-such-package-anywhere" in result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"error: pip could not install {requirements} into {venv} (exit 1; its messages are above)"
    )
    assert "WARNING: Location" not in result.stderr
    assert not (venv / ".installed").exists()  # so the next run tries again instead of calling it current
