"""Inputs an attacker controls, refused inside the operations before any Management API call: path ids that would
rewrite the Logto route (finding 8.1), and request bodies that are not strict JSON objects (finding 8.7)."""

from __future__ import annotations

import pytest

from orgapi.base.errors import BadRequest
from orgapi.base.jsonbody import MAX_DEPTH, parse_object
from orgapi.contract.routes import ROUTES
from orgapi.logto.management import _seg
from tests.unit.test_operations import call

# What API Gateway hands over in pathParameters for these request paths (it URL-decodes once), and the raw forms.
TRICKS = [
    "bob\n",
    "\n",
    ".",
    "..",
    "%2E%2E",
    "%2e",
    "%2e%2e",
    "..%2F",
    "a/b",
    "a%2Fb",
    "%2F",
    "",
    " ",
    "a..b",
    "x" * 65,
    "ä",
    "*",
]
PATH_PARAMS = [
    (route, name)
    for route in ROUTES
    for name in ("organizationId", "userId", "invitationId")
    if "{" + name + "}" in route.path
]


@pytest.mark.parametrize(("route", "param"), PATH_PARAMS, ids=lambda v: getattr(v, "name", v))
def test_every_path_parameter_refuses_dot_segments_and_separators(handlers, logto, route, param):
    """`members/%2E%2E` reached Logto as DELETE /api/organizations/{id}/ (real Logto deleted the organization)."""
    for trick in TRICKS:
        before = logto.stats()["management_requests"]
        authorizer = None
        if param == "organizationId":
            # the token's organization is the trick itself, so the defence-in-depth organization check passes
            authorizer = {
                "sub": "alice",
                "clientId": "spa",
                "organizationId": trick,
                "scopes": "org:update org:delete member:read member:add member:remove role:assign member:invite",
                "tokenKind": "organization",
                "exp": "4102444800",
            }
        status, body, _ = call(handlers, route.name, path={param: trick}, authorizer=authorizer)
        assert status == 400 and body["code"] == "invalid_id", (route.name, param, trick, status, body)
        assert logto.stats()["management_requests"] == before, (route.name, param, trick)


@pytest.mark.parametrize("value", [".", "..", "a/b", "%2e%2e", "", "a?b", "a#b", "x" * 65, 5, "bob\n"])
def test_management_client_refuses_anything_but_a_plain_id(value):
    with pytest.raises(BadRequest):
        _seg(value)  # type: ignore[arg-type]
    assert _seg("abc_DEF-123") == "abc_DEF-123"


@pytest.mark.parametrize(
    "raw",
    [
        '{"name": "x", "customData": {"x": NaN}}',
        '{"name": "x", "customData": {"x": Infinity}}',
        '{"name": "x", "customData": {"x": -Infinity}}',
        '{"name": "x", "customData": {"x": 1e999}}',
        '{"name": "x", "name": "y"}',
        '{"name": "x", "customData": {"a": 1, "a": 2}}',
        '["name"]',
        '"x"',
        "null",
        '{"name": "x", "customData": ' + '{"a": ' * MAX_DEPTH + "1" + "}" * MAX_DEPTH + "}",
    ],
)
def test_bodies_that_are_not_strict_json_objects_are_400_before_logto(handlers, logto, raw):
    before = logto.stats()["management_requests"]
    status, body, _ = call(handlers, "create_organization", body=raw)
    assert status == 400 and set(body) == {"message", "code"}, (raw[:60], body)
    assert logto.stats()["management_requests"] == before


# What API Gateway passes on for a body that is not UTF-8 (no binaryMediaTypes): each bad byte sequence as U+FFFD.
@pytest.mark.parametrize(
    "raw", ['{"name": "Caf\ufffd Co"}', '{"name": "x", "customData": {"\ufffd": 1}}', "\ufffd\ufffd{"]
)
def test_a_body_that_was_not_utf8_is_400_before_logto(handlers, logto, raw):
    before = logto.stats()["management_requests"]
    status, body, _ = call(handlers, "create_organization", body=raw)
    assert status == 400 and body == {"message": "The body is not valid UTF-8 text", "code": "invalid_json"}
    assert logto.stats()["management_requests"] == before


def test_a_replacement_character_is_refused_as_sent_but_is_data_when_escaped():
    with pytest.raises(BadRequest) as refused:
        parse_object('{"name": "\ufffd"}', "application/json")
    assert refused.value.body() == {"message": "The body is not valid UTF-8 text", "code": "invalid_json"}
    # `\ufffd` written as an escape is valid UTF-8 text that asks for the character: the client's own choice.
    assert parse_object('{"name": "\\ufffd"}', "application/json") == {"name": "\ufffd"}


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "", "application/jsonp"])
def test_bodies_must_be_sent_as_application_json(handlers, logto, content_type):
    before = logto.stats()["management_requests"]
    status, body, _ = call(
        handlers, "update_organization", body='{"name": "x"}', headers={"Content-Type": content_type}
    )
    assert status == 415 and body["code"] == "unsupported_media_type"
    assert logto.stats()["management_requests"] == before


def test_json_with_charset_and_nesting_up_to_the_limit_is_accepted():
    nested = '{"a": ' * (MAX_DEPTH - 1) + "1" + "}" * (MAX_DEPTH - 1)
    assert parse_object(nested, "application/json; charset=utf-8")
    assert parse_object('{"x": 1.5, "y": [true, null]}', "Application/JSON") == {"x": 1.5, "y": [True, None]}


def test_audit_line_for_a_mutating_request_names_actor_action_targets_and_outcome(handlers, caplog):
    caplog.set_level("INFO")
    status, _, _ = call(handlers, "remove_member", path={"userId": "bob"})
    audits = [record.audit for record in caplog.records if record.getMessage() == "audit"]
    assert audits == [
        {
            "actor": {"sub": "alice", "clientId": "local-spa"},
            "organizationId": "demo0org0001",
            "action": "remove_member",
            "targets": {"userId": "bob"},
            "status": status,
        }
    ]
    assert "eyJ" not in caplog.text  # no token in any line


def test_reads_write_no_audit_line(handlers, caplog):
    caplog.set_level("INFO")
    call(handlers, "list_members")
    assert not [record for record in caplog.records if record.getMessage() == "audit"]


@pytest.mark.parametrize("name", ["a\u0000b", "a\u0007b", "a\u202eb", "\t", "a\nb"])
def test_names_refuse_control_and_bidi_override_characters(handlers, logto, name):
    before = logto.stats()["management_requests"]
    status, body, _ = call(handlers, "update_organization", body={"name": name})
    assert status == 400 and body["code"] == "invalid_request"
    assert logto.stats()["management_requests"] == before


def test_audit_lines_name_granted_roles_and_created_invitations(handlers, caplog):
    caplog.set_level("INFO")
    call(handlers, "create_invitation", body={"invitee": "audit@example.com", "roleNames": ["member"]})
    call(handlers, "replace_member_roles", path={"userId": "bob"}, body={"roleNames": ["member"]})
    audits = [record.audit for record in caplog.records if record.getMessage() == "audit"]
    invitation, roles = audits
    assert invitation["targets"]["roleNames"] == ["member"] and invitation["targets"]["invitationId"]
    assert invitation["status"] == 201 and "audit@example.com" not in caplog.text
    assert roles["targets"] == {"userId": "bob", "roleNames": ["member"]} and roles["status"] == 200
