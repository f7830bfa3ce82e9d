"""`make build-check` (scripts/build_check.py): what it refuses in a built artifact, and its skip without python3.13."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("build_check", ROOT / "scripts" / "build_check.py")
assert spec and spec.loader
build_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build_check)


def elf(path: Path, machine: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = bytearray(64)
    header[:4] = b"\x7fELF"
    header[18:20] = machine.to_bytes(2, "little")
    path.write_bytes(bytes(header))


def test_arm64_extensions_for_the_runtime_s_python_pass(tmp_path):
    elf(tmp_path / "SharedLayer/python/cryptography/hazmat/bindings/_rust.abi3.so", 183)
    elf(tmp_path / "SharedLayer/python/pydantic_core/_pydantic_core.cpython-313-aarch64-linux-gnu.so", 183)
    (tmp_path / "SharedLayer/python/notes.so.txt").write_text("not an ELF file")
    assert build_check.check_extensions(tmp_path, "arm64", "python3.13") == 2


def test_an_x86_64_wheel_in_an_arm64_build_is_named(tmp_path):
    elf(tmp_path / "SharedLayer/python/pydantic_core/_pydantic_core.cpython-313-x86_64-linux-gnu.so", 62)
    with pytest.raises(
        build_check.CheckFailed, match=r"_pydantic_core\.cpython-313-x86_64-linux-gnu\.so: x86_64, not arm64"
    ):
        build_check.check_extensions(tmp_path, "arm64", "python3.13")


def test_an_extension_built_for_another_python_is_named(tmp_path):
    """A layer built with python3.12 ships _cffi_backend.cpython-312: under 3.13 cryptography does not import and
    python-jose silently falls back to pure-Python ECDSA (../shared/notes/aws.md §1)."""
    elf(tmp_path / "SharedLayer/python/_cffi_backend.cpython-312-aarch64-linux-gnu.so", 183)
    with pytest.raises(build_check.CheckFailed, match="built for cpython-312, not cpython-313"):
        build_check.check_extensions(tmp_path, "arm64", "python3.13")


def test_without_python313_it_is_skipped_with_one_line(monkeypatch, capsys):
    monkeypatch.setattr(build_check, "python313", lambda: None)
    build_check.main()
    assert capsys.readouterr().out == (
        "build-check skipped: sam build needs python3.13 (the Lambda runtime) on PATH or in pyenv; none here\n"
    )
