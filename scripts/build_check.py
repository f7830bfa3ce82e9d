"""`make build-check`: the build that ships, checked before a deploy finds out.

1. `sam build` (.aws-sam/build), as `sam deploy` would package it; every layer module ships its bytecode.
2. Every native extension in it is for the template's architecture (ELF machine) and the runtime's Python (a
   cpython-312 `.so` in a python3.13 layer fails to import: python-jose then silently falls back to pure-Python ECDSA).
3. Every function's handler imports from the built artifact alone: its code folder, the layer's `python/` and the
   runtime's boto3 (Lambda's Python runtime ships it), on the runtime's Python, isolated (-I -S: no site-packages,
   no PYTHONPATH). This host cannot load arm64 extensions, so that step runs on a same-host build of the same
   template (.aws-sam/build-host, architecture switched to the host's), which fetches the same pinned versions.

Needs python3.13 (the runtime) for `sam build`; without it the check is skipped with one line saying so (exit 0),
so `make test` stays green on a machine without it. Run with the tools virtualenv (SAM CLI).
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".venv-tools" / "bin"
ELF_MACHINES = {183: "arm64", 62: "x86_64"}  # e_machine: EM_AARCH64, EM_X86_64
HOST_ARCH = {"aarch64": "arm64", "arm64": "arm64", "x86_64": "x86_64", "amd64": "x86_64"}[platform.machine().lower()]
# What Lambda's Python runtime provides besides the standard library (boto3 and what it needs).
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")


class CheckFailed(Exception):
    pass


def template() -> dict:
    from samcli.yamlhelper import yaml_parse

    return yaml_parse((ROOT / "template.yaml").read_text())


def python313() -> list[str] | None:
    script = [str(ROOT / "scripts" / "python.sh")]
    found = subprocess.run(script, capture_output=True, text=True).stdout.strip()  # noqa: S603 - our own script
    if not found.endswith("python3.13"):
        return None
    return found.split()  # "python3.13", or "env PYENV_VERSION=3.13.0 python3.13"


# Parameter values for the import step (a cold start reads its configuration): samconfig.toml's example values.
SAMPLE_PARAMETERS = {
    "LogtoEndpoint": "https://your-tenant.logto.app",
    "ApiResource": "https://api.example.com/org",
    "M2MSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:logto-org-api/m2m-AbCdEf",
}


def function_environments(doc: dict) -> dict[str, dict[str, str]]:
    """Each function's environment as deployed with the sample parameters (a stack resource's Ref: its name)."""
    sys.path.insert(0, str(ROOT))
    from local.serve import resolve

    defaults = {k: str(v.get("Default", "")) for k, v in (doc.get("Parameters") or {}).items()}
    values = {**defaults, **SAMPLE_PARAMETERS, **{name: f"stack-{name}" for name in doc["Resources"]}}
    conditions = doc.get("Conditions") or {}
    common = ((doc.get("Globals") or {}).get("Function") or {}).get("Environment", {}).get("Variables", {})
    environments = {}
    for name, resource in doc["Resources"].items():
        if resource.get("Type") == "AWS::Serverless::Function":
            own = ((resource.get("Properties") or {}).get("Environment") or {}).get("Variables", {})
            resolved = resolve({**common, **own}, values, conditions)
            environments[name] = {k: v if isinstance(v, str) else json.dumps(v) for k, v in resolved.items()}
    return environments


def template_settings() -> tuple[str, str, dict[str, str]]:
    """(architecture, runtime, {LogicalId: handler}) from template.yaml's Globals and functions."""
    doc = template()
    function_globals = (doc.get("Globals") or {}).get("Function") or {}
    architectures = {tuple(function_globals.get("Architectures", ["x86_64"]))}
    runtimes = {function_globals.get("Runtime")}
    handlers = {}
    for name, resource in doc["Resources"].items():
        props = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function":
            architectures.add(tuple(props.get("Architectures", function_globals.get("Architectures", ["x86_64"]))))
            runtimes.add(props.get("Runtime", function_globals.get("Runtime")))
            handlers[name] = props.get("Handler", function_globals.get("Handler"))
        if resource.get("Type") == "AWS::Serverless::LayerVersion":
            architectures.add(tuple(props.get("CompatibleArchitectures", ["x86_64"])))
            architectures.add(((resource.get("Metadata") or {}).get("BuildArchitecture", "x86_64"),))
            method = (resource.get("Metadata") or {}).get("BuildMethod")
            # A makefile build (the shared layer: python3.13's build plus bytecode) names its runtime in the layer.
            runtimes.update(props.get("CompatibleRuntimes", []) if method == "makefile" else [method])
    if len(architectures) != 1 or len(next(iter(architectures))) != 1 or len(runtimes) != 1:
        raise CheckFailed(
            f"one architecture and one runtime for every function and layer, found {architectures}, {runtimes}"
        )
    return next(iter(architectures))[0], str(next(iter(runtimes))), handlers


def sam_build(python: list[str], template: Path, build_dir: Path, architecture: str | None = None) -> None:
    prefix = python[:-1]  # env PYENV_VERSION=... so that sam finds python3.13
    argv = [*prefix, str(TOOLS / "sam"), "build", "--template", str(template), "--build-dir", str(build_dir)]
    argv += ["--cached", "--parallel", "--cache-dir", str(build_dir.parent / f"cache-{build_dir.name}")]
    print("$", " ".join(argv[len(prefix) :]), flush=True)
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    if architecture:  # layers/common/Makefile builds for LAMBDA_ARCH (its default: the template's)
        env["LAMBDA_ARCH"] = architecture
    done = subprocess.run(argv, cwd=ROOT, env=env)  # noqa: S603
    if done.returncode != 0:
        raise CheckFailed(f"sam build failed (exit {done.returncode})")


def check_extensions(build_dir: Path, architecture: str, runtime: str) -> int:
    tag = "cpython-" + runtime.removeprefix("python").replace(".", "")
    problems, count = [], 0
    for path in sorted(build_dir.rglob("*.so*")):
        if not path.is_file() or path.read_bytes()[:4] != b"\x7fELF":
            continue
        count += 1
        machine = int.from_bytes(path.read_bytes()[18:20], "little")
        found = ELF_MACHINES.get(machine, f"machine {machine}")
        if found != architecture:
            problems.append(f"{path.relative_to(build_dir)}: {found}, not {architecture}")
        python_tag = re.search(r"\.(cpython-\d+)", path.name)
        if python_tag and python_tag.group(1) != tag:
            problems.append(f"{path.relative_to(build_dir)}: built for {python_tag.group(1)}, not {tag}")
    if problems:
        raise CheckFailed("native extensions that would not load on Lambda:\n  " + "\n  ".join(problems))
    return count


def check_bytecode(build_dir: Path, runtime: str) -> int:
    """Every module of every layer ships its bytecode, used as shipped (unchecked-hash): Lambda mounts layers
    read-only, so a module without it compiles again at every cold start (layers/common/Makefile)."""
    tag = "cpython-" + runtime.removeprefix("python").replace(".", "")
    missing, count = [], 0
    for layer in (p / "python" for p in build_dir.iterdir() if (p / "python").is_dir()):
        for source in layer.rglob("*.py"):
            compiled = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
            count += 1
            # PEP 552 flags: 0b01 hash-based, 0b10 check the source; unchecked-hash is 0b01.
            if not compiled.is_file() or compiled.read_bytes()[4:8] != b"\x01\x00\x00\x00":
                missing.append(str(source.relative_to(build_dir)))
    if missing:
        raise CheckFailed(f"{len(missing)} layer modules without unchecked-hash bytecode, e.g. {missing[:3]}")
    return count


def host_template(folder: Path) -> Path:
    """template.yaml with the host's architecture, beside links to the code (CodeUri is relative to it)."""
    text = (ROOT / "template.yaml").read_text()
    text = re.sub(r"\b(arm64|x86_64)\b", HOST_ARCH, text)
    for name in ("functions", "layers"):
        os.symlink(ROOT / name, folder / name)
    path = folder / "template.yaml"
    path.write_text(text)
    return path


def check_imports(python: list[str], build_dir: Path, handlers: dict[str, str]) -> None:
    # The app virtualenv's boto3 (the layer's pins leave it to the runtime) stands for the runtime's.
    where = "import boto3, os; print(os.path.dirname(os.path.dirname(boto3.__file__)))"
    app_python = str(ROOT / ".venv" / "bin" / "python")
    found = subprocess.run([app_python, "-c", where], capture_output=True, text=True, check=True)  # noqa: S603
    site = Path(found.stdout.strip())
    layers = [p for p in build_dir.iterdir() if p.is_dir() and (p / "python").is_dir()]
    with tempfile.TemporaryDirectory() as runtime_dir:
        for package in RUNTIME_PACKAGES:
            source = site / package if (site / package).exists() else site / f"{package}.py"
            os.symlink(source, Path(runtime_dir) / source.name)
        failures = []
        environments = function_environments(template())
        for name, handler in sorted(handlers.items()):
            module, _, attribute = handler.rpartition(".")
            paths = [str(build_dir / name), *(str(layer / "python") for layer in layers), runtime_dir]
            code = (
                "import importlib, sys; sys.path[:0] = " + json.dumps(paths) + "; "
                f"handler = getattr(importlib.import_module({module!r}), {attribute!r}); "
                "outside = sorted({m.__file__ for m in list(sys.modules.values()) if getattr(m, '__file__', None) "
                "and 'site-packages' in m.__file__}); "
                "assert not outside, outside; print('ok')"
            )
            env = {
                **environments[name],
                "PATH": os.environ.get("PATH", ""),
                "HOME": os.environ.get("HOME", tempfile.gettempdir()),
                "AWS_REGION": "eu-west-1",
                "AWS_DEFAULT_REGION": "eu-west-1",
                "PYENV_VERSION": os.environ.get("PYENV_VERSION", ""),
                **{k.split("=", 1)[0]: k.split("=", 1)[1] for k in python[:-1] if "=" in k},
            }
            done = subprocess.run(  # noqa: S603 - the runtime's interpreter on the built artifact
                [python[-1], "-I", "-S", "-c", code], env=env, cwd=build_dir / name, capture_output=True, text=True
            )
            if done.returncode != 0 or done.stdout.strip() != "ok":
                last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
                failures.append(f"{name} ({handler}): {last}")
            else:
                print(f"  {name}: {handler} imports from the artifact", flush=True)
        if failures:
            raise CheckFailed("handlers that do not import from the built artifact alone:\n  " + "\n  ".join(failures))


def main() -> None:
    python = python313()
    if python is None:
        print("build-check skipped: sam build needs python3.13 (the Lambda runtime) on PATH or in pyenv; none here")
        return
    try:
        architecture, runtime, handlers = template_settings()
        build = ROOT / ".aws-sam" / "build"
        sam_build(python, ROOT / "template.yaml", build)
        count = check_extensions(build, architecture, runtime)
        size = sum(p.stat().st_size for p in build.rglob("*") if p.is_file()) / 1e6
        print(
            f"ok: {count} native extensions in {build.relative_to(ROOT)} are {architecture}, {runtime}; {size:.0f} MB"
        )
        print(f"ok: {check_bytecode(build, runtime)} layer modules ship their bytecode (unchecked-hash)")
        if architecture == HOST_ARCH:
            check_imports(python, build, handlers)
        else:
            host = ROOT / ".aws-sam" / "build-host"
            with tempfile.TemporaryDirectory() as folder:
                sam_build(python, host_template(Path(folder)), host, HOST_ARCH)
            check_extensions(host, HOST_ARCH, runtime)
            print(f"importing each handler from a same-host ({HOST_ARCH}) build of the same template:", flush=True)
            check_imports(python, host, handlers)
        print(f"ok: {len(handlers)} handlers import from the built artifact alone")
    except CheckFailed as error:
        print(f"build-check failed: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
