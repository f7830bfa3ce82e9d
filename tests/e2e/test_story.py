"""Organization lifecycle through the whole stack, with every rule the contract names."""

from __future__ import annotations

import uuid

DEMO = "demo0org0001"


def create_org(stack, user="carol", name=None, headers=None):
    token = stack.token("global_api", user)
    response = stack.call(
        "POST", "/organizations", token, json={"name": name or f"Org {uuid.uuid4().hex[:6]}"}, headers=headers or {}
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_create_add_assign_invite_revoke_remove_delete(stack):
    org = create_org(stack, name="Carol Co")
    org_id = org["id"]
    assert org["name"] == "Carol Co"
    assert org["organizationRoles"] == [{"id": org["organizationRoles"][0]["id"], "name": "admin"}]
    listed = stack.call("GET", "/organizations", stack.token("global_api", "carol")).json()
    assert any(o["id"] == org_id and [r["name"] for r in o["organizationRoles"]] == ["admin"] for o in listed)

    carol = stack.token("organization", "carol", org_id)  # admin: every permission
    assert stack.call("GET", f"/organizations/{org_id}", carol).json()["id"] == org_id

    added = stack.call(
        "POST", f"/organizations/{org_id}/members", carol, json={"userIds": ["bob"], "roleNames": ["member"]}
    )
    assert added.status_code == 201, added.text
    members = stack.call("GET", f"/organizations/{org_id}/members", carol, params={"page": 1, "page_size": 1})
    assert members.status_code == 200 and members.headers["Total-Number"] == "2" and len(members.json()) == 1
    assert set(members.json()[0]) == {"id", "username", "name", "primaryEmail", "avatar", "organizationRoles"}

    roles = stack.call("PUT", f"/organizations/{org_id}/members/bob/roles", carol, json={"roleNames": ["admin"]})
    assert roles.status_code == 200 and roles.json()["roleNames"] == ["admin"]

    patched = stack.call("PATCH", f"/organizations/{org_id}", carol, json={"description": "hi", "customData": {"a": 1}})
    assert patched.status_code == 200 and patched.json()["customData"] == {"a": 1}

    invited = stack.call(
        "POST",
        f"/organizations/{org_id}/invitations",
        carol,
        json={"invitee": "dave@example.com", "roleNames": ["member"], "expiresInDays": 3},
    )
    assert invited.status_code == 201, invited.text
    invitation = invited.json()
    assert invitation["status"] == "Pending" and invitation["inviterId"] == "carol"
    assert (
        stack.call(
            "POST", f"/organizations/{org_id}/invitations", carol, json={"invitee": "dave@example.com"}
        ).status_code
        == 409
    )  # a pending one exists
    listed = stack.call("GET", f"/organizations/{org_id}/invitations", carol).json()
    assert [i["id"] for i in listed] == [invitation["id"]]
    assert stack.call("DELETE", f"/organizations/{org_id}/invitations/{invitation['id']}", carol).status_code == 204
    assert stack.call("DELETE", f"/organizations/{org_id}/invitations/{invitation['id']}", carol).status_code == 409

    assert stack.call("DELETE", f"/organizations/{org_id}/members/bob", carol).status_code == 204
    last = stack.call("DELETE", f"/organizations/{org_id}/members/carol", carol)
    assert last.status_code == 409 and last.json()["code"] == "last_creator"
    demote = stack.call("PUT", f"/organizations/{org_id}/members/carol/roles", carol, json={"roleNames": ["member"]})
    assert demote.status_code == 409
    assert stack.call("DELETE", f"/organizations/{org_id}/members/nobody", carol).status_code == 404

    assert stack.call("DELETE", f"/organizations/{org_id}", carol).status_code == 204
    assert stack.call("GET", f"/organizations/{org_id}", carol).status_code == 404


def test_invitation_of_another_organization_cannot_be_revoked(stack):
    org_a, org_b = create_org(stack), create_org(stack)
    token_a = stack.token("organization", "carol", org_a["id"])
    token_b = stack.token("organization", "carol", org_b["id"])
    invitation = stack.call(
        "POST", f"/organizations/{org_b['id']}/invitations", token_b, json={"invitee": "someone@example.com"}
    ).json()
    response = stack.call("DELETE", f"/organizations/{org_a['id']}/invitations/{invitation['id']}", token_a)
    assert response.status_code == 404
    assert stack.call("GET", f"/organizations/{org_b['id']}/invitations", token_b).json()[0]["status"] == "Pending"


def test_no_privilege_escalation(stack):
    org = create_org(stack)
    # a token holding only member:add may add members with roles whose permissions it holds, not admin
    limited = stack.token("organization", "carol", org["id"], scopes=["member:add", "member:read"])
    escalate = stack.call(
        "POST", f"/organizations/{org['id']}/members", limited, json={"userIds": ["bob"], "roleNames": ["admin"]}
    )
    assert escalate.status_code == 403 and escalate.json()["code"] == "privilege_escalation"
    fine = stack.call(
        "POST", f"/organizations/{org['id']}/members", limited, json={"userIds": ["bob"], "roleNames": ["member"]}
    )
    assert fine.status_code == 201
    invite_admin = stack.token("organization", "carol", org["id"], scopes=["member:invite"])
    assert (
        stack.call(
            "POST",
            f"/organizations/{org['id']}/invitations",
            invite_admin,
            json={"invitee": "x@example.com", "roleNames": ["admin"]},
        ).status_code
        == 403
    )


def test_idempotent_create(stack):
    token = stack.token("global_api", "carol")
    key = uuid.uuid4().hex
    first = stack.call("POST", "/organizations", token, json={"name": "Once"}, headers={"Idempotency-Key": key})
    second = stack.call("POST", "/organizations", token, json={"name": "Once"}, headers={"Idempotency-Key": key})
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    other_body = stack.call("POST", "/organizations", token, json={"name": "Twice"}, headers={"Idempotency-Key": key})
    assert other_body.status_code == 422 and other_body.json()["code"] == "idempotency_key_reused"
    mine = stack.call("GET", "/organizations", token).json()
    assert sum(1 for o in mine if o["name"] == "Once") == 1
    # the same key from another user is that user's own request
    alice = stack.token("global_api", "alice")
    theirs = stack.call("POST", "/organizations", alice, json={"name": "Once"}, headers={"Idempotency-Key": key})
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]


def test_bad_input_is_400_with_json(stack):
    token = stack.token("global_api", "carol")
    cases = [
        "not json",
        '{"name": ""}',
        '{"name": "x", "customCss": "body{}"}',
        '{"name": 5}',
        '{"name": "' + "x" * 200 + '"}',
        "[]",
    ]
    for body in cases:
        response = stack.call("POST", "/organizations", token, data=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, (body, response.text)
        assert set(response.json()) == {"message", "code"}
    alice = stack.token("organization", "alice", DEMO)
    assert stack.call("GET", f"/organizations/{DEMO}/members", alice, params={"page_size": 101}).status_code == 400
    assert stack.call("GET", f"/organizations/{DEMO}/members", alice, params={"page": 0}).status_code == 400
    bad_users = stack.call("POST", f"/organizations/{DEMO}/members", alice, json={"userIds": ["../x"]})
    assert bad_users.status_code == 400
    unknown_role = stack.call(
        "POST", f"/organizations/{DEMO}/members", alice, json={"userIds": ["carol"], "roleNames": ["ghost"]}
    )
    assert unknown_role.status_code == 422


def test_roles_listing(stack):
    token = stack.token("organization", "bob", DEMO)
    roles = stack.call("GET", f"/organizations/{DEMO}/roles", token).json()
    names = [r["name"] for r in roles]
    assert names == sorted(names) and {"admin", "member"} <= set(names)  # other tests add tenant roles
    assert "automation" not in names  # the machine-to-machine role is not assignable to people
    assert "member:read" in next(r for r in roles if r["name"] == "member")["permissions"]
