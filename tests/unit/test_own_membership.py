"""GET / DELETE /organizations/{organizationId}/members/me through the handlers against the stand-in."""

from __future__ import annotations

from tests.unit.test_operations import ALL, call, org_context


def test_members_me_is_what_logto_holds_now(handlers, logto):
    alice = org_context(scopes=f"{ALL} org:create")  # every permission the admin role carries
    status, me, _ = call(handlers, "get_own_membership", authorizer=alice)
    assert status == 200
    assert me["userId"] == "alice" and [r["name"] for r in me["organizationRoles"]] == ["admin"]
    roles = {r["name"]: r for r in call(handlers, "list_roles")[1]}
    assert me["permissions"] == roles["admin"]["permissions"]
    bob_token = org_context(sub="bob", scopes="member:read member:remove")  # issued when bob could remove members
    status, bob, _ = call(handlers, "get_own_membership", authorizer=bob_token)
    assert status == 200 and bob["permissions"] == ["member:read"]  # his role grants no member:remove today
    # alice makes bob an admin: bob's old token reads his new roles; its permissions stay what the token can use
    assert call(handlers, "replace_member_roles", authorizer=alice, body={"roleNames": ["admin"]})[0] == 200
    status, bob, _ = call(handlers, "get_own_membership", authorizer=bob_token)
    assert [r["name"] for r in bob["organizationRoles"]] == ["admin"]
    assert bob["permissions"] == ["member:read", "member:remove"]


def test_members_me_reads_logto_even_with_live_permissions_off(handlers, logto, monkeypatch):
    monkeypatch.setenv("LIVE_PERMISSIONS", "off")
    bob_token = org_context(sub="bob", scopes="member:read member:remove")
    status, bob, _ = call(handlers, "get_own_membership", authorizer=bob_token)
    assert status == 200 and [r["name"] for r in bob["organizationRoles"]] == ["member"]
    assert bob["permissions"] == ["member:read"]


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


def test_leaving_checks_membership_even_with_live_permissions_off(handlers, logto, monkeypatch):
    monkeypatch.setenv("LIVE_PERMISSIONS", "off")
    status, body, _ = call(handlers, "leave_organization", authorizer=org_context(sub="carol"))
    assert status == 403 and body["code"] == "not_a_member"


def test_an_application_reads_its_membership_but_cannot_leave_by_itself(handlers, logto):
    app = {**org_context(sub="demo-m2m-app", scopes="member:read"), "clientId": "demo-m2m-app"}  # seeded member app
    status, me, _ = call(handlers, "get_own_membership", authorizer=app)
    assert status == 200 and me["userId"] == "demo-m2m-app"
    status, body, _ = call(handlers, "leave_organization", authorizer=app)
    assert status == 403 and body["code"] == "user_token_required"
