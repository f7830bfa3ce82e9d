"""LIVE_PERMISSIONS in-process against the stand-in: what each mode trusts, machine callers, and global tokens whose
scope Logto filled from organization roles (access.py)."""

from __future__ import annotations

import base64

import pytest

from local.logto.credentials import M2M_APP_ID, M2M_APP_SECRET
from tests.unit.test_operations import ALL, DEMO, call, org_context


def remove_bob(logto):
    """Another admin removes bob in Logto; the token bob holds says nothing of it."""
    token = logto.client.post(
        "/oidc/token",
        data={"grant_type": "client_credentials", "resource": "https://default.logto.app/api", "scope": "all"},
        headers={"Authorization": "Basic " + base64.b64encode(f"{M2M_APP_ID}:{M2M_APP_SECRET}".encode()).decode()},
    ).get_json()["access_token"]
    removed = logto.client.delete(f"/api/organizations/{DEMO}/users/bob", headers={"Authorization": f"Bearer {token}"})
    assert removed.status_code == 204


BOB_AS_ADMIN = org_context(sub="bob")  # a token issued while bob was an admin (it says so; Logto says otherwise now)


@pytest.mark.parametrize(("mode", "patch", "read"), [("writes", 403, 200), ("all", 403, 403), ("off", 200, 200)])
def test_what_each_mode_trusts_for_a_removed_member(handlers, logto, monkeypatch, mode, patch, read):
    monkeypatch.setenv("LIVE_PERMISSIONS", mode)
    remove_bob(logto)
    status, body, _ = call(handlers, "update_organization", authorizer=BOB_AS_ADMIN, body={"description": "mine"})
    assert status == patch, body
    if status == 403:
        assert body["code"] == "not_a_member"
    assert call(handlers, "list_members", authorizer=BOB_AS_ADMIN)[0] == read


def test_bobs_member_role_caps_a_token_that_claims_more(handlers):
    """bob is a member (member:read); a token claiming every permission gets only what his role grants now."""
    status, body, _ = call(handlers, "update_organization", authorizer=BOB_AS_ADMIN, body={"description": "mine"})
    assert status == 403 and body["code"] == "missing_permission"


def test_machine_caller_gets_its_application_roles_in_the_organization(handlers):
    """sub == client_id: the seeded demo-m2m-app holds `automation` (member:read) in the demo organization."""
    machine = {**org_context(sub="demo-m2m-app", scopes="member:read org:update"), "clientId": "demo-m2m-app"}
    status, body, _ = call(handlers, "update_organization", authorizer=machine, body={"description": "bot"})
    assert status == 403 and body["code"] == "missing_permission"
    outsider = {**org_context(sub="ghost-app", scopes=ALL), "clientId": "ghost-app"}
    status, body, _ = call(handlers, "update_organization", authorizer=outsider, body={"description": "bot"})
    assert status == 403 and body["code"] == "not_a_member"


def global_context(sub):
    return {**org_context(sub=sub, scopes="org:create", kind="global_api"), "organizationId": ""}


@pytest.mark.parametrize(("user", "status"), [("alice", 201), ("dave", 403), ("erin", 403)])
def test_org_create_comes_from_global_roles_for_this_api_only(handlers, user, status):
    """alice: global role `creator` (org:create on API_RESOURCE). dave: global role `partner` carries org:create for
    ANOTHER API resource, and is not enough. erin: no roles. Each token claims org:create."""
    headers = {"Content-Type": "application/json"}
    got, body, _ = call(handlers, "create_organization", authorizer=global_context(user), headers=headers)
    assert got == status, body
