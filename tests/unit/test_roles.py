"""Role resolution by name (cached briefly, refreshed once for a name it does not know) and the escalation rule."""

from __future__ import annotations

import pytest

from orgapi.caller import Caller
from orgapi.deadline import Deadline
from orgapi.errors import Forbidden, Unprocessable
from orgapi.roles import OrganizationRole, RoleDirectory, ensure_no_escalation
from orgapi.routes import TokenKind


class FakeApi:
    def __init__(self, roles):
        self.roles, self.calls = roles, 0

    def organization_roles(self, deadline):
        self.calls += 1
        return list(self.roles)


def role(name, scopes=(), api=(), type_="User"):
    return {
        "id": f"id-{name}",
        "name": name,
        "type": type_,
        "scopes": [{"id": s, "name": s} for s in scopes],
        "resourceScopes": [{"id": s, "name": s} for s in api],
    }


class Clock:
    now = 100.0

    def __call__(self):
        return self.now


def test_cached_then_refreshed_after_ttl():
    api, clock = FakeApi([role("admin")]), Clock()
    directory = RoleDirectory(api, 60, clock)
    for _ in range(10):
        assert directory.resolve(["admin"], Deadline.after(5))[0].id == "id-admin"
    assert api.calls == 1
    clock.now += 61
    directory.resolve(["admin"], Deadline.after(5))
    assert api.calls == 2


def test_unknown_name_looks_once_more_then_422():
    api, clock = FakeApi([role("admin")]), Clock()
    directory = RoleDirectory(api, 60, clock)
    directory.all(Deadline.after(5))
    clock.now += 5
    api.roles.append(role("auditor"))
    assert directory.resolve(["auditor"], Deadline.after(5))[0].name == "auditor"  # created after caching
    clock.now += 5
    with pytest.raises(Unprocessable) as info:
        directory.resolve(["ghost"], Deadline.after(5))
    assert info.value.code == "unknown_role"
    assert api.calls == 3


def test_machine_roles_are_not_assignable_to_people():
    directory = RoleDirectory(FakeApi([role("bot", type_="MachineToMachine")]), 60, Clock())
    with pytest.raises(Unprocessable):
        directory.resolve(["bot"], Deadline.after(5))


def caller(kind, scopes):
    return Caller("u", "c", kind, "o1", frozenset(scopes), 2e9)


def test_escalation_uses_the_permissions_the_token_kind_carries():
    admin = OrganizationRole.from_logto(role("admin", scopes=["a", "b"], api=["x"]))
    ensure_no_escalation(caller(TokenKind.ORGANIZATION, {"a", "b"}), [admin])
    ensure_no_escalation(caller(TokenKind.ORGANIZATION_API, {"x"}), [admin])
    with pytest.raises(Forbidden) as info:
        ensure_no_escalation(caller(TokenKind.ORGANIZATION, {"a"}), [admin])
    assert info.value.code == "privilege_escalation"
    with pytest.raises(Forbidden):
        ensure_no_escalation(caller(TokenKind.ORGANIZATION_API, {"a", "b"}), [admin])
