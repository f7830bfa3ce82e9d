"""The layer's house plan (issue 17): every module lives in a concern's subpackage, and imports only from its own
subpackage or those below it in orgapi.LAYERS. An upward import would put a rule above the adapter it serves."""

from __future__ import annotations

import ast
from pathlib import Path

import orgapi

ROOT = Path(orgapi.__file__).parent


def _orgapi_imports(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "orgapi":
            names = [node.module] if node.module != "orgapi" else [f"orgapi.{a.name}" for a in node.names]
            found += [(node.lineno, name) for name in names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "orgapi"]
    return found


def test_every_module_is_in_a_layer():
    packages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages == set(orgapi.LAYERS)
    assert [p.name for p in ROOT.glob("*.py")] == ["__init__.py"]


def upward_imports(relative: Path, source: str) -> list[str]:
    own = orgapi.LAYERS.index(relative.parts[0])
    problems = []
    for line, module in _orgapi_imports(ast.parse(source)):
        target = module.split(".")[1] if "." in module else ""
        if target not in orgapi.LAYERS:
            problems.append(f"{relative}:{line} imports {module}, which is in no layer")
        elif orgapi.LAYERS.index(target) > own:
            problems.append(f"{relative}:{line} imports {module} from above ({target} > {relative.parts[0]})")
    return problems


def test_no_module_imports_from_a_layer_above_its_own():
    upward = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if len(relative.parts) >= 2:
            upward += upward_imports(relative, path.read_text())
    assert upward == []


def test_the_walk_reports_an_upward_import():
    """The check itself can fail: a rule importing the gateway, or the flat layout's modules, are reported."""
    source = "from orgapi.gateway.handler import build_handler\nfrom orgapi import helpers\nimport orgapi.base.config\n"
    assert upward_imports(Path("rules/x.py"), source) == [
        "rules/x.py:1 imports orgapi.gateway.handler from above (gateway > rules)",
        "rules/x.py:2 imports orgapi.helpers, which is in no layer",
    ]
