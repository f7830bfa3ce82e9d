"""`make iam-report`: per function, what its role grants against what the e2e suite made it do.

Reads the usage file the local AWS writes with LOCAL_IAM_USAGE (local/enforce.py): the roles each stack enforced, and
every (function, action, resource, decision) seen once. A grant is one action pattern on one resource pattern of a
statement in template.yaml's Policies; it is used when some call it allowed matched it. Resources are shown as
template.yaml names them (${IdempotencyTable.Arn}, ${M2MSecretArn}), so stacks with different local names agree.
The managed policies SAM attaches to every role (CloudWatch Logs, X-Ray) are left out: Lambda's own service uses
them, outside the function's code, and the local stack cannot see it.

  python -m local.iam_report --usage .local/iam-usage.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from local.policy import _action_pattern, resource_matches


def symbolic(text: str, names: dict[str, dict[str, Any]]) -> str:
    """A local ARN as template.yaml would name it: ${IdempotencyTable.Arn}/index/*, ${M2MSecretArn}."""
    for logical, name in sorted(names.items(), key=lambda item: -len(item[1].get("arn") or "")):
        arn = name.get("arn")
        if arn and text.startswith(arn):
            token = f"${{{logical}}}" if arn == name.get("ref") else f"${{{logical}.Arn}}"
            return token + text[len(arn) :]
    return text


def read_usage(path: Path) -> tuple[dict[str, list[dict[str, Any]]], set[tuple[str, str, str]], list[str]]:
    """(grants by function, used (function, action, symbolic resource), denials)."""
    names_of: dict[str, dict[str, Any]] = {}
    grants: dict[str, list[dict[str, Any]]] = {}
    used: set[tuple[str, str, str]] = set()
    denied: list[str] = []
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        if "install" in entry:
            payload = entry["install"]
            names_of[entry["stack"]] = payload.get("names") or {}
            for function, role in payload["roles"].items():
                found = []
                for statement, source in zip(role["statements"], role["sources"], strict=True):
                    if source.startswith("managed policy") or statement.get("Effect") != "Allow":
                        continue
                    actions = statement.get("Action")
                    resources = statement.get("Resource")
                    if actions is None or resources is None:  # NotAction / NotResource: reported as one grant
                        actions, resources = ["(NotAction)"], ["(NotResource)"]
                    for action in [actions] if isinstance(actions, str) else actions:
                        for resource in [resources] if isinstance(resources, str) else resources:
                            found.append({"source": source, "action": action, "resource": resource})
                for grant in found:
                    grant["resource"] = symbolic(grant["resource"], names_of[entry["stack"]])
                grants.setdefault(function, found)  # the first stack's: every stack runs the same template
            continue
        names = names_of.get(entry["stack"], {})
        resource = symbolic(entry["resource"], names)
        if entry["effect"] == "allow":
            used.add((entry["function"], entry["action"], resource))
        else:
            denied.append(f"{entry['function']}: {entry['action']} on {resource} ({entry['effect']})")
    return grants, used, sorted(set(denied))


def report(path: Path) -> tuple[str, int]:
    grants, used, denied = read_usage(path)
    lines: list[str] = []
    unused_total = 0
    for function in sorted(grants):
        calls = sorted((a, r) for f, a, r in used if f == function)
        lines.append(function)
        if calls:
            by_resource: dict[str, list[str]] = defaultdict(list)
            for action, resource in calls:
                by_resource[resource].append(action)
            for resource, actions in sorted(by_resource.items()):
                lines.append(f"  used    {', '.join(actions)} on {resource}")
        else:
            lines.append("  used    nothing")
        unused: dict[tuple[str, str], list[str]] = defaultdict(list)
        for grant in grants[function]:
            pattern = _action_pattern(grant["action"])
            if not any(pattern.fullmatch(a) and resource_matches(grant["resource"], r) for a, r in calls):
                unused[(grant["source"], grant["resource"])].append(grant["action"])
        for (source, resource), actions in sorted(unused.items()):
            unused_total += len(actions)
            lines.append(f"  UNUSED  {', '.join(actions)} on {resource}  [{source}]")
    if denied:
        lines += ["", "Denied during the run (a test expecting it, or a missing grant):", *(f"  {d}" for d in denied)]
    lines += ["", f"{len(grants)} functions, {len(used)} distinct calls, {unused_total} unused grants"]
    return "\n".join(lines), unused_total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--usage", type=Path, required=True)
    args = parser.parse_args()
    if not args.usage.exists():
        sys.exit(f"error: no usage file {args.usage}: run the e2e tests with LOCAL_IAM_USAGE={args.usage} first")
    text, _ = report(args.usage)
    print(text)


if __name__ == "__main__":
    main()
