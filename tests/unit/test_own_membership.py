"""GET / DELETE /organizations/{organizationId}/members/me through the handlers against the stand-in."""

from __future__ import annotations

from tests.unit.test_operations import ALL, call, org_context


def test_members_me_is_what_logto_holds_now(handlers, logto):
    status, me, _ = call(handlers, "get_own_membership")
    assert status == 200
    assert me["userId"] == "alice" and [r["name"] for r in me["organizationRoles"]] == ["admin"]
    roles = {r["name"]: r for r in call(handlers, "list_roles")[1]}
    assert me["permissions"] == roles["admin"]["permissions"]
    status, bob, _ = call(handlers, "get_own_membership", authorizer=org_context(sub="bob", scopes="member:read"))
    assert status == 200 and bob["permissions"] == ["member:read"]
    # alice makes bob an admin: bob's *old* token now reads his new roles
    alice = org_context(scopes=f"{ALL} org:create")  # every permission the admin role may carry
    assert call(handlers, "replace_member_roles", authorizer=alice, body={"roleNames": ["admin"]})[0] == 200
    status, bob, _ = call(handlers, "get_own_membership", authorizer=org_context(sub="bob", scopes="member:read"))
    assert [r["name"] for r in bob["organizationRoles"]] == ["admin"]


def test_the_last_creator_cannot_leave_and_others_can(handlers, logto):
    status, body, _ = call(handlers, "leave_organization", authorizer=org_context())
    assert status == 409 and body["code"] == "last_creator"
    bob = org_context(sub="bob", scopes="member:read")  # no member:remove: leaving needs none
    assert call(handlers, "leave_organization", authorizer=bob)[0] == 204
    assert call(handlers, "get_own_membership", authorizer=bob)[0] == 403
    assert call(handlers, "leave_organization", authorizer=bob)[0] == 403  # not a member any more: nothing changes
    assert call(handlers, "get_own_membership")[0] == 200


def test_a_non_member_has_no_membership(handlers, logto):
    assert call(handlers, "get_own_membership", authorizer=org_context(sub="carol"))[0] == 403
    assert call(handlers, "leave_organization", authorizer=org_context(sub="carol"))[0] == 403
