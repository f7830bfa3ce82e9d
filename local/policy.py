"""How IAM decides an identity-based policy for one request (action + resource), for the local AWS's role check.

The rules (IAM User Guide, "Policy evaluation logic" and "IAM JSON policy elements: Resource"):
- an explicit Deny in any statement wins; else an Allow that matches is needed; else the request is implicitly denied;
- actions match case-insensitively, with `*` (any run of characters) and `?` (one character);
- resources match case-sensitively; in an ARN, a wildcard stays inside its colon-delimited segment unless it ends the
  segment (then it may run past the colons), and the resource part (after the fifth colon) is one segment;
- NotAction / NotResource match everything the list does not.

What the local check cannot evaluate is refused when the policy is loaded (PolicyError), never silently allowed:
Condition blocks, policy variables (`${aws:username}`), a Principal in an identity policy, unknown keys or effects.

No dependencies: the tools virtualenv (make local) and the app virtualenv (the local AWS) both import it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

KNOWN_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource"}


class PolicyError(ValueError):
    """A statement the local check cannot evaluate faithfully."""


@dataclass(frozen=True)
class Statement:
    effect: str  # "Allow" | "Deny"
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_action: bool = False
    not_resource: bool = False
    source: str = ""  # where it comes from, for the log ("Policies[1] DynamoDBCrudPolicy")

    def matches_action(self, action: str) -> bool:
        hit = any(_action_pattern(a).fullmatch(action) for a in self.actions)
        return hit != self.not_action

    def names_service(self, service: str) -> bool:
        """Whether some action it allows belongs to `service` (dynamodb): a grant on a table needs one."""
        if self.not_action:
            return True
        prefixes = (a.split(":", 1)[0] for a in self.actions)
        return any(re.fullmatch(_wildcards(p, ".*", "."), service, re.IGNORECASE) for p in prefixes)

    def matches_resource(self, resource: str) -> bool:
        hit = any(resource_matches(r, resource) for r in self.resources)
        return hit != self.not_resource


@dataclass(frozen=True)
class Decision:
    effect: str  # "allow" | "explicit_deny" | "implicit_deny"
    statement: Statement | None = None  # the Deny that decided it, or the first Allow that matched

    @property
    def allowed(self) -> bool:
        return self.effect == "allow"


def _as_list(value: Any, what: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise PolicyError(f"{what} must be a string or a non-empty list of strings, got {value!r}")
    return tuple(items)


def parse_statement(raw: Any, source: str = "") -> Statement:
    if not isinstance(raw, dict):
        raise PolicyError(f"a statement must be an object, got {raw!r}")
    if "Condition" in raw:
        raise PolicyError(f"a Condition ({raw['Condition']!r}) is not evaluated by the local check")
    if "Principal" in raw or "NotPrincipal" in raw:
        raise PolicyError("a Principal belongs in a resource or trust policy, not in a role's policy")
    unknown = set(raw) - KNOWN_KEYS
    if unknown:
        raise PolicyError(f"unknown statement key(s) {', '.join(sorted(unknown))}")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f"Effect must be Allow or Deny, got {effect!r}")
    if ("Action" in raw) == ("NotAction" in raw):
        raise PolicyError("a statement needs exactly one of Action and NotAction")
    if ("Resource" in raw) == ("NotResource" in raw):
        raise PolicyError("a statement needs exactly one of Resource and NotResource")
    actions = _as_list(raw.get("Action", raw.get("NotAction")), "Action")
    resources = _as_list(raw.get("Resource", raw.get("NotResource")), "Resource")
    for action in actions:
        if action != "*" and not re.fullmatch(r"[A-Za-z0-9-]+:[A-Za-z0-9*?]+", action):
            raise PolicyError(f"{action!r} is not an action (service:Operation)")
    for resource in resources:
        if "${" in resource:
            raise PolicyError(f"the policy variable in {resource!r} is not evaluated by the local check")
        if resource != "*" and not resource.startswith("arn:"):
            raise PolicyError(f"{resource!r} is not an ARN (an unresolved name or parameter?)")
    return Statement(effect, actions, resources, "NotAction" in raw, "NotResource" in raw, source)


def parse_document(document: Any, source: str = "") -> list[Statement]:
    if not isinstance(document, dict) or "Statement" not in document:
        raise PolicyError("a policy document needs a Statement")
    raw = document["Statement"]
    return [parse_statement(s, source) for s in ([raw] if isinstance(raw, dict) else raw)]


@lru_cache(maxsize=4096)
def _action_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(_wildcards(pattern, ".*", "."), re.IGNORECASE)


def _wildcards(text: str, star: str, question: str) -> str:
    return "".join(star if c == "*" else question if c == "?" else re.escape(c) for c in text)


@lru_cache(maxsize=4096)
def _resource_pattern(pattern: str) -> re.Pattern[str]:
    if pattern == "*" or not pattern.startswith("arn:"):
        return re.compile(_wildcards(pattern, ".*", "."))
    segments = pattern.split(":", 5)
    parts = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if last and len(segments) == 6:  # the resource part: one segment, colons and slashes included
            parts.append(_wildcards(segment, ".*", "."))
            continue
        body = _wildcards(segment.rstrip("*"), "[^:]*", "[^:]") if segment.endswith("*") else None
        # A `*` ending a segment may run past the colons; elsewhere wildcards stay inside the segment.
        parts.append(body + ".*" if body is not None else _wildcards(segment, "[^:]*", "[^:]"))
    return re.compile(":".join(parts))


def resource_matches(pattern: str, resource: str) -> bool:
    return _resource_pattern(pattern).fullmatch(resource) is not None


def decide(statements: list[Statement], action: str, resource: str) -> Decision:
    """IAM's decision for one action on one resource under these statements (one identity, no other policy types)."""
    allow: Statement | None = None
    for statement in statements:
        if not (statement.matches_action(action) and statement.matches_resource(resource)):
            continue
        if statement.effect == "Deny":
            return Decision("explicit_deny", statement)
        allow = allow or statement
    return Decision("allow", allow) if allow else Decision("implicit_deny")
