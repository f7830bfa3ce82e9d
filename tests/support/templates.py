"""Modified copies of template.yaml for the IAM tests: one function's Policies replaced, the rest as shipped."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def with_policies(text: str, function: str, policies: str | None) -> str:
    """template.yaml's text with `function`'s Policies replaced by `policies` (YAML list items, indented 8 spaces),
    or removed (None)."""
    start = text.index(f"\n  {function}:\n")
    end = re.compile(r"\n  \S").search(text, start + 1)
    block = text[start : end.start() if end else len(text)]
    found = re.search(r"\n      Policies:\n(?:        .*\n|\s*\n)*", block)
    assert found, f"{function} has no Policies"
    replacement = "\n" if policies is None else "\n      Policies:\n" + policies.rstrip("\n") + "\n"
    return text.replace(block, block[: found.start()] + replacement + block[found.end() :])


def template_copy(folder: Path, text: str) -> Path:
    """The modified template in `folder`, beside links to the code it names (CodeUri is relative to the template)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("functions", "layers"):
        if not (folder / name).exists():
            os.symlink(ROOT / name, folder / name)
    path = folder / "template.yaml"
    path.write_text(text)
    return path
