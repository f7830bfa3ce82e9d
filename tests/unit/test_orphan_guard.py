"""The orphan guard reads creator-role holders from the member list; it must stay right when Logto ignores the role
filter (older versions, other implementations) and when holders span pages."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from orgapi.base.deadline import Deadline
from orgapi.base.errors import Conflict
from orgapi.rules.orphan_guard import PAGE, ensure_not_last_creator
from orgapi.rules.roles import OrganizationRole, RoleCatalog


class MembersIgnoringTheFilter:
    def __init__(self, members):
        self.members, self.calls = members, 0

    def list_members(self, organization_id, deadline, *, page, page_size, **filters):
        self.calls += 1
        return self.members[(page - 1) * page_size : page * page_size], len(self.members)


def member(user_id, *roles):
    return {"id": user_id, "organizationRoles": [{"id": f"r-{r}", "name": r} for r in roles]}


CATALOG = RoleCatalog(
    tuple(OrganizationRole(f"r-{n}", n, None, "User", frozenset(), frozenset()) for n in ("admin", "member"))
)


def services(members):
    return SimpleNamespace(settings=SimpleNamespace(creator_role="admin"), logto=MembersIgnoringTheFilter(members))


def _ensure_not_last_creator(s, organization_id, user_id, deadline):
    ensure_not_last_creator(s, organization_id, user_id, CATALOG, deadline)


def test_last_holder_is_refused_even_when_the_filter_is_ignored():
    s = services([member(f"m{i}", "member") for i in range(250)] + [member("boss", "admin")])
    with pytest.raises(Conflict) as info:
        _ensure_not_last_creator(s, "o1", "boss", Deadline.after(5))
    assert info.value.code == "last_creator"
    assert s.logto.calls == 3  # paged through 251 members


def test_another_holder_on_a_later_page_allows_the_change():
    s = services([member("boss", "admin")] + [member(f"m{i}", "member") for i in range(PAGE)] + [member("b2", "admin")])
    _ensure_not_last_creator(s, "o1", "boss", Deadline.after(5))


def test_stops_at_the_first_other_holder():
    s = services([member("b2", "admin")] + [member(f"m{i}", "member") for i in range(3 * PAGE)])
    _ensure_not_last_creator(s, "o1", "boss", Deadline.after(5))
    assert s.logto.calls == 1


def test_non_holders_and_non_members_pass():
    s = services([member("boss", "admin"), member("bob", "member")])
    _ensure_not_last_creator(s, "o1", "bob", Deadline.after(5))
    _ensure_not_last_creator(s, "o1", "stranger", Deadline.after(5))
