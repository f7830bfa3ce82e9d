"""Roles as Logto describes them (API permissions only for API_RESOURCE), the cached and fresh role lists, and the
three rules an Access answers: permission, no escalation in both namespaces, rank."""

from __future__ import annotations

import pytest

from orgapi.base.deadline import Deadline
from orgapi.base.errors import Forbidden, Unprocessable
from orgapi.contract.kinds import TokenKind
from orgapi.rules.access import Access
from orgapi.rules.role_directory import RoleDirectory
from orgapi.rules.roles import OrganizationRole, RoleCatalog
from orgapi.tokens.identity import Caller

API = "https://api.example.com/org"


class FakeApi:
    def __init__(self, roles):
        self.roles, self.calls, self.resource_calls = roles, 0, 0

    def organization_roles(self, deadline):
        self.calls += 1
        return list(self.roles)

    def resource_id(self, indicator, deadline):
        self.resource_calls += 1
        return "res-api" if indicator == API else None


def role(name, scopes=(), api=(), other_api=(), type_="User"):
    return {
        "id": f"id-{name}",
        "name": name,
        "type": type_,
        "scopes": [{"id": s, "name": s} for s in scopes],
        "resourceScopes": [{"id": s, "name": s, "resource": {"id": "res-api", "name": "Org API"}} for s in api]
        + [{"id": f"o-{s}", "name": s, "resource": {"id": "res-other", "name": "Other"}} for s in other_api],
    }


class Clock:
    now = 100.0

    def __call__(self):
        return self.now


def caller(kind, scopes, subject="u1"):
    return Caller(subject, "spa", kind, "o1", frozenset(scopes), 2e9)


def test_api_permissions_of_another_resource_do_not_count():
    """Logto's role list names each resource scope's resource ({id, name}); a same-named scope of another API is a
    different permission."""
    parsed = OrganizationRole.from_logto(role("admin", api=["member:add"], other_api=["org:create"]), "res-api")
    assert parsed.api_permissions == {"member:add"}
    assert OrganizationRole.from_logto(role("admin", api=["member:add"]), None).api_permissions == frozenset()


def test_cached_list_expires_and_fresh_always_reads():
    api, clock = FakeApi([role("admin")]), Clock()
    directory = RoleDirectory(api, API, 60, clock)
    directory.cached(Deadline.after(5))
    directory.cached(Deadline.after(5))
    assert api.calls == 1
    clock.now += 61
    directory.cached(Deadline.after(5))
    assert api.calls == 2
    directory.fresh(Deadline.after(5))
    directory.fresh(Deadline.after(5))
    assert api.calls == 4
    assert api.resource_calls == 1  # the resource id is stable: looked up once


def test_resolve_by_name_refuses_unknown_and_machine_roles():
    catalog = RoleCatalog(
        tuple(OrganizationRole.from_logto(r, "res-api") for r in (role("admin"), role("bot", type_="MachineToMachine")))
    )
    assert [r.name for r in catalog.resolve(["admin"])] == ["admin"]
    for name in ("bot", "ghost"):
        with pytest.raises(Unprocessable):
            catalog.resolve([name])


ADMIN = OrganizationRole.from_logto(role("admin", scopes=["a", "b"], api=["x"]), "res-api")


@pytest.mark.parametrize("kind", [TokenKind.ORGANIZATION, TokenKind.ORGANIZATION_API])
def test_escalation_is_checked_in_both_namespaces(kind):
    """Finding 8.2: an organization API token was compared only with API permissions, an organization token only with
    organization permissions. Granting a role hands over both: the caller must hold every one of them."""
    Access(caller(kind, {"a", "b", "x"}), "o1", frozenset({"a", "b", "x"}), True).ensure_can_grant([ADMIN])
    for held in ({"a", "b"}, {"x"}, {"a", "x"}):
        with pytest.raises(Forbidden) as info:
            Access(caller(kind, held), "o1", frozenset(held), True).ensure_can_grant([ADMIN])
        assert info.value.code == "privilege_escalation"


def test_rank_needs_every_permission_of_the_target_except_on_oneself():
    remover = Access(caller(TokenKind.ORGANIZATION, {"m"}), "o1", frozenset({"m", "a"}), True)
    with pytest.raises(Forbidden) as info:
        remover.ensure_outranks("boss", [ADMIN])
    assert info.value.code == "insufficient_rank"
    remover.ensure_outranks("u1", [ADMIN])  # oneself: stepping down / leaving
    Access(caller(TokenKind.ORGANIZATION, set()), "o1", frozenset({"a", "b", "x"}), True).ensure_outranks(
        "boss", [ADMIN]
    )


def test_require_uses_effective_not_token_permissions():
    access = Access(caller(TokenKind.ORGANIZATION, {"org:update"}), "o1", frozenset(), True)
    with pytest.raises(Forbidden) as info:
        access.require("org:update")
    assert info.value.code == "missing_permission"
    access.require(None)
