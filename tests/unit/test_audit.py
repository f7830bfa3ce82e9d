"""The audit trail and change events (issue 20): one entry and one event per change that happened, none for a change
that did not, late publishing by the clean-up run, and the audit route (newest first, cursor, filters, one
organization only, audit:read checked live). In-process: the Logto stand-in, DynamoDB and EventBridge in moto, a
consumer queue behind a rule on the bus."""

from __future__ import annotations

import json

import pytest

from orgapi.base.aws_clients import AwsClients
from orgapi.contract.routes import TokenKind
from orgapi.tokens.identity import Caller
from tests.unit.conftest import Context
from tests.unit.test_operations import DEMO, call, org_context

JSON = {"Content-Type": "application/json"}
ADMIN = "org:update org:delete member:read member:add member:remove role:assign member:invite audit:read org:create"


def global_context(sub):
    return {
        "principalId": sub,
        "sub": sub,
        "clientId": "spa",
        "organizationId": "",
        "scopes": "org:create",
        "tokenKind": "global_api",
        "exp": "4102444800",
    }


def stored(aws):
    """Every entry in the audit table, oldest first."""
    items = aws.dynamodb.scan(TableName="audit")["Items"]
    return [json.loads(i["entry"]["S"]) for i in sorted(items, key=lambda i: i["sk"]["S"])]


def consumed(aws):
    """The events the consumer received since the last call (EventBridge envelope: detail-type, source, detail)."""
    events = []
    while True:
        messages = aws.sqs.receive_message(QueueUrl=aws.queue, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return events
        for message in messages:
            events.append(json.loads(message["Body"]))
            aws.sqs.delete_message(QueueUrl=aws.queue, ReceiptHandle=message["ReceiptHandle"])


class Trail:
    """What one step added: exactly the entries written and the events the consumer got since the last look."""

    def __init__(self, aws):
        self.aws, self.seen = aws, 0

    def new(self):
        entries = stored(self.aws)
        added, self.seen = entries[self.seen :], len(entries)
        return added, consumed(self.aws)

    def one(self, action, organization_id, actor, **targets):
        added, events = self.new()
        assert [e["action"] for e in added] == [action], added
        (entry,) = added
        assert entry["organizationId"] == organization_id
        assert entry["actor"] == {"userId": actor, "applicationId": None, "clientId": "spa"}
        assert entry["targets"] == targets
        assert entry["time"].endswith("Z") and entry["status"] in (200, 201, 204)
        (event,) = events
        assert (event["source"], event["detail-type"], event["detail"]) == ("orgapi", action, entry)
        return entry

    def none(self):
        assert self.new() == ([], [])


def test_every_action_records_one_entry_and_one_event_with_actor_and_targets(handlers, aws, logto):
    trail = Trail(aws)
    status, org, _ = call(handlers, "create_organization", headers=JSON, authorizer=global_context("alice"))
    assert status == 201
    trail.one("organization.created", org["id"], "alice")
    alice = org_context(org=org["id"], scopes=ADMIN)
    at = {"organizationId": org["id"]}

    assert call(handlers, "update_organization", path=at, authorizer=alice, body={"name": "Renamed"})[0] == 200
    trail.one("organization.updated", org["id"], "alice")
    body = {"userIds": ["carol"], "roleNames": ["member"]}
    assert call(handlers, "add_members", path=at, authorizer=alice, body=body, headers=JSON)[0] == 201
    trail.one("member.added", org["id"], "alice", userIds=["carol"], roleNames=["member"])
    roles = {"roleNames": ["admin"]}
    path = {**at, "userId": "carol"}
    assert call(handlers, "replace_member_roles", path=path, authorizer=alice, body=roles, headers=JSON)[0] == 200
    trail.one("member.roles_replaced", org["id"], "alice", userIds=["carol"], roleNames=["admin"])
    # the same roles again: Logto is left as it was, so nothing is recorded (found in review: it was)
    assert call(handlers, "replace_member_roles", path=path, authorizer=alice, body=roles, headers=JSON)[0] == 200
    trail.none()
    assert call(handlers, "remove_member", path=path, authorizer=alice)[0] == 204
    trail.one("member.removed", org["id"], "alice", userIds=["carol"])

    invite = {"invitee": "carol@example.com", "roleNames": ["member"]}
    status, invitation, _ = call(handlers, "create_invitation", path=at, authorizer=alice, body=invite, headers=JSON)
    assert status == 201
    entry = trail.one("invitation.created", org["id"], "alice", invitationId=invitation["id"], roleNames=["member"])
    assert "carol@example.com" not in json.dumps(entry)  # ids only: never the invitee's address
    it = {**at, "invitationId": invitation["id"]}
    assert call(handlers, "send_invitation_message", path=it, authorizer=alice)[0] == 204
    trail.one("invitation.message_sent", org["id"], "alice", invitationId=invitation["id"])
    status, _, _ = call(
        handlers, "decline_invitation", path={"invitationId": invitation["id"]}, authorizer=global_context("carol")
    )
    assert status == 200
    trail.one("invitation.declined", org["id"], "carol", invitationId=invitation["id"])

    status, invitation, _ = call(
        handlers, "create_invitation", path=at, authorizer=alice, body={"invitee": "dave@example.com"}, headers=JSON
    )
    trail.one("invitation.created", org["id"], "alice", invitationId=invitation["id"], roleNames=[])
    it = {**at, "invitationId": invitation["id"]}
    assert call(handlers, "revoke_invitation", path=it, authorizer=alice)[0] == 204
    trail.one("invitation.revoked", org["id"], "alice", invitationId=invitation["id"])

    status, _, _ = call(
        handlers, "accept_invitation", path={"invitationId": "demo0invite1"}, authorizer=global_context("dave")
    )
    assert status == 200
    trail.one("invitation.accepted", DEMO, "dave", invitationId="demo0invite1", userIds=["dave"])
    dave = org_context(sub="dave", scopes="member:read")
    assert call(handlers, "leave_organization", authorizer=dave)[0] == 204
    trail.one("member.left", DEMO, "dave", userIds=["dave"])

    assert call(handlers, "delete_organization", path=at, authorizer=alice)[0] == 204
    trail.one("organization.deleted", org["id"], "alice")


def test_a_machine_callers_entry_names_the_application(handlers, aws):
    from orgapi.operations.services import services

    handlers("update_organization")  # builds the services with this test's settings
    caller = Caller("demo-m2m-app", "demo-m2m-app", TokenKind.ORGANIZATION, DEMO, frozenset(), 4102444800)
    entry = services().audit.record(caller, "member.added", DEMO, userIds=["bob"], email="x@example.com")
    assert entry["actor"] == {"userId": None, "applicationId": "demo-m2m-app", "clientId": "demo-m2m-app"}
    assert entry["targets"] == {"userIds": ["bob"]}  # anything but ids and role names is dropped


def test_nothing_is_recorded_for_changes_that_did_not_happen(handlers, aws, logto):
    trail = Trail(aws)
    bob = org_context(sub="bob", scopes=ADMIN)  # a member whose role grants member:read only: 403 live
    assert call(handlers, "delete_organization", authorizer=bob)[0] == 403
    assert call(handlers, "leave_organization", authorizer=org_context(scopes=ADMIN))[0] == 409  # last creator
    assert call(handlers, "remove_member", path={"userId": "carol"}, authorizer=org_context(scopes=ADMIN))[0] == 404
    assert call(handlers, "update_organization", body={"name": ""}, authorizer=org_context(scopes=ADMIN))[0] == 400
    logto.fault(pathPrefix=f"/api/organizations/{DEMO}", method="PATCH", status=500, times=3)
    status, _, _ = call(handlers, "update_organization", body={"name": "X"}, authorizer=org_context(scopes=ADMIN))
    assert status >= 500
    # compensated: carol is added, the role grant fails, carol is removed again
    logto.fault(pathPrefix=f"/api/organizations/{DEMO}/users/roles", method="POST", status=422, times=1)
    body = {"userIds": ["carol"], "roleNames": ["member"]}
    status, _, _ = call(handlers, "add_members", body=body, headers=JSON, authorizer=org_context(scopes=ADMIN))
    assert status == 422
    # a create whose role grant fails: the organization is deleted again
    logto.fault(pathPrefix="/api/organizations/", method="POST", status=422, times=1)
    assert call(handlers, "create_organization", headers=JSON, authorizer=global_context("alice"))[0] == 422
    trail.none()


def test_an_idempotency_key_replay_records_nothing_new(handlers, aws):
    trail = Trail(aws)
    headers = {**JSON, "Idempotency-Key": "k-1"}
    first = call(handlers, "create_organization", headers=headers, authorizer=global_context("alice"))
    again = call(handlers, "create_organization", headers=headers, authorizer=global_context("alice"))
    assert first[0] == again[0] == 201 and first[1]["id"] == again[1]["id"]
    trail.one("organization.created", first[1]["id"], "alice")
    trail.none()


def test_a_lost_answer_found_done_is_recorded_once(handlers, aws, logto):
    trail = Trail(aws)
    logto.fault(pathPrefix=f"/api/organizations/{DEMO}/users/bob", method="DELETE", lost="status", times=1)
    assert call(handlers, "remove_member", path={"userId": "bob"}, authorizer=org_context(scopes=ADMIN))[0] == 204
    trail.one("member.removed", DEMO, "alice", userIds=["bob"])


class FailingEvents:
    def __init__(self):
        self.calls = 0

    def put_events(self, **_):
        self.calls += 1
        raise ConnectionError("EventBridge is down")


def run_cleanups(handlers):
    return handlers("run_cleanups")({"detail-type": "Scheduled Event"}, Context())


def test_events_that_could_not_be_published_go_out_with_the_clean_up_once_per_id(handlers, aws, monkeypatch):
    from orgapi.operations.services import services

    handlers("update_organization")
    trail = services().audit
    real_events = trail.events
    down = FailingEvents()
    monkeypatch.setattr(trail, "_clients", AwsClients(dynamodb=trail.dynamodb, events=down))
    admin = org_context(scopes=ADMIN)
    for name in ("One", "Two"):
        assert call(handlers, "update_organization", body={"name": name}, authorizer=admin)[0] == 200
    assert down.calls == 2 and consumed(aws) == []  # the answers were given; the entries are stored
    assert len(stored(aws)) == 2
    assert run_cleanups(handlers)["eventsUnpublished"] == 2  # still down: kept, counted for the alarm

    monkeypatch.setattr(trail, "_clients", AwsClients(dynamodb=trail.dynamodb, events=real_events))
    result = run_cleanups(handlers)
    assert (result["eventsPublished"], result["eventsUnpublished"]) == (2, 0)
    events = consumed(aws)
    assert sorted(e["detail"]["id"] for e in events) == sorted(e["id"] for e in stored(aws))
    assert run_cleanups(handlers)["eventsPublished"] == 0 and consumed(aws) == []  # exactly once


def test_an_event_published_but_not_marked_is_published_again_with_the_same_id(handlers, aws, monkeypatch):
    """At least once: the consumer dedupes on `id`, which never changes."""
    from orgapi.operations.services import services

    handlers("update_organization")
    trail = services().audit
    mark = trail._mark_published
    monkeypatch.setattr(trail, "_mark_published", lambda entry: None)  # the mark is lost (DynamoDB hiccup)
    assert call(handlers, "update_organization", body={"name": "Once"}, authorizer=org_context(scopes=ADMIN))[0] == 200
    first = consumed(aws)
    assert run_cleanups(handlers)["eventsPublished"] == 0  # within the grace: its request may still be publishing
    monkeypatch.setattr(trail, "_mark_published", mark)
    monkeypatch.setattr(trail, "_clock", lambda: 4102444800.0)  # well after the grace period
    assert run_cleanups(handlers)["eventsPublished"] == 1
    second = consumed(aws)
    assert len(first) == len(second) == 1 and first[0]["detail"] == second[0]["detail"]
    assert len({e["detail"]["id"] for e in first + second}) == 1


# -- the route -------------------------------------------------------------------------------------------------------


def audit(handlers, org=DEMO, context=None, **query):
    path = {"organizationId": org}
    return call(
        handlers, "list_audit", path=path, authorizer=context or org_context(org=org, scopes=ADMIN), query=query
    )


def fill(org, count, actor="alice", action="member.added"):
    from orgapi.operations.services import services

    trail = services().audit
    caller = Caller(actor, "spa", TokenKind.ORGANIZATION, org, frozenset(), 4102444800)
    ticks = iter(range(count))
    clock = trail._clock
    trail._clock = lambda: 1_900_000_000 + next(ticks)  # one entry per second: a known order
    try:
        return [trail.record(caller, action, org, userIds=[f"u{i}"])["id"] for i in range(count)]
    finally:
        trail._clock = clock
        trail.discard_recorded()


def test_pages_over_more_than_a_hundred_entries_newest_first(handlers, aws):
    handlers("list_audit")
    ids = fill(DEMO, 130)
    fill("otherorg0001", 5)
    status, first, headers = audit(handlers, limit="100")
    assert status == 200 and len(first) == 100 and headers["Next-Cursor"]
    status, second, more = audit(handlers, limit="100", cursor=headers["Next-Cursor"])
    assert status == 200 and len(second) == 30 and "Next-Cursor" not in more
    assert [e["id"] for e in first + second] == ids[::-1]  # newest first, each once, this organization's only
    status, default, headers = audit(handlers)
    assert len(default) == 20 and headers["Next-Cursor"]


def test_filters_by_action_and_actor(handlers, aws):
    handlers("list_audit")
    fill(DEMO, 3, actor="alice", action="member.added")
    bobs = fill(DEMO, 4, actor="bob", action="member.removed")
    _, removed, _ = audit(handlers, action="member.removed")
    assert [e["id"] for e in removed] == bobs[::-1]
    _, page, headers = audit(handlers, actorId="bob", limit="3")
    _, rest, _ = audit(handlers, actorId="bob", limit="3", cursor=headers["Next-Cursor"])
    assert [e["id"] for e in page + rest] == bobs[::-1]
    assert audit(handlers, actorId="alice", action="member.removed")[1] == []


@pytest.mark.parametrize("cursor", ["garbage", "e30", "x" * 600, "eyJvIjoiZGVtbzBvcmcwMDAxIiwiayI6MX0"])
def test_a_cursor_that_this_route_did_not_give_is_400(handlers, aws, cursor):
    status, body, _ = audit(handlers, cursor=cursor)
    assert status == 400 and body["code"] in ("invalid_cursor", "invalid_request")


def test_other_organizations_entries_are_never_shown(handlers, aws):
    status, other, _ = call(handlers, "create_organization", headers=JSON, authorizer=global_context("alice"))
    assert status == 201
    fill(other["id"], 30)
    fill(DEMO, 1)
    # a token for the demo organization asking for another's trail: refused before anything is read
    status, body, _ = audit(handlers, org=other["id"], context=org_context(scopes=ADMIN))
    assert status == 403 and body["code"] == "other_organization"
    # alice's cursor from her other organization on this organization's trail: 400, not a page of either
    _, _, headers = audit(handlers, org=other["id"], context=org_context(org=other["id"], scopes=ADMIN), limit="5")
    status, body, _ = audit(handlers, cursor=headers["Next-Cursor"])
    assert status == 400 and body["code"] == "invalid_cursor"
    assert {e["organizationId"] for e in audit(handlers)[1]} == {DEMO}


def test_audit_read_is_checked_live(handlers, aws):
    # bob's token claims audit:read, but his role (member) does not grant it now
    status, body, _ = audit(handlers, context=org_context(sub="bob", scopes="member:read audit:read"))
    assert status == 403 and body["code"] == "missing_permission"
    assert audit(handlers, context=org_context(scopes="member:read"))[0] == 403  # not in the token: refused too


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"action": "DROP TABLE"}])
def test_bad_query_is_400(handlers, aws, query):
    assert audit(handlers, **query)[0] == 400


# -- configuration and storage ---------------------------------------------------------------------------------------


def test_entries_expire_after_the_retention_days(handlers, aws, monkeypatch):
    monkeypatch.setenv("AUDIT_RETENTION_DAYS", "7")
    from orgapi.operations.services import services

    services.cache_clear()
    assert call(handlers, "update_organization", body={"name": "Kept"}, authorizer=org_context(scopes=ADMIN))[0] == 200
    (item,) = aws.dynamodb.scan(TableName="audit")["Items"]
    entry_time = json.loads(item["entry"]["S"])["time"]
    from datetime import datetime

    written = datetime.fromisoformat(entry_time.replace("Z", "+00:00")).timestamp()
    assert abs(int(item["expiration"]["N"]) - (written + 7 * 86400)) <= 1
    assert "unpublished" not in item  # published: out of the clean-up's index


@pytest.mark.parametrize(
    ("name", "value"),
    [("AUDIT_RETENTION_DAYS", "0"), ("AUDIT_RETENTION_DAYS", "x"), ("EVENT_BUS_NAME", "a bus"), ("AUDIT_TABLE", "a")],
)
def test_bad_audit_settings_fail_at_cold_start(name, value):
    from orgapi.base.config import load_settings
    from orgapi.base.errors import ConfigError

    with pytest.raises(ConfigError):
        load_settings({"LOGTO_ENDPOINT": "https://t.logto.app", name: value})


def test_a_function_that_changes_something_does_not_start_without_the_audit_table(handlers, monkeypatch):
    from orgapi.base.errors import ConfigError
    from orgapi.gateway.handler import build_handler
    from orgapi.operations.organizations import update_organization
    from orgapi.operations.services import services

    monkeypatch.delenv("AUDIT_TABLE")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "update")
    services.cache_clear()
    with pytest.raises(ConfigError, match="AUDIT_TABLE"):
        build_handler("update_organization", update_organization)


class FailingTable:
    def put_item(self, **_):
        raise ConnectionError("DynamoDB is down")


def test_an_entry_that_cannot_be_stored_still_goes_out_as_an_event(handlers, aws, monkeypatch):
    """The change happened: the answer says so, and the event carries the entry (the log line keeps it too)."""
    from orgapi.operations.services import services

    handlers("update_organization")
    trail = services().audit
    monkeypatch.setattr(trail, "_clients", AwsClients(dynamodb=FailingTable(), events=trail.events))
    assert call(handlers, "update_organization", body={"name": "Y"}, authorizer=org_context(scopes=ADMIN))[0] == 200
    (event,) = consumed(aws)
    assert event["detail"]["action"] == "organization.updated" and "_unstored" not in event["detail"]


def test_audit_read_is_renamed_by_permission_overrides_like_every_default():
    from orgapi.contract.routes import ROUTES_BY_NAME, required_permission
    from orgapi.tokens.policy import build_policy
    from tests.support.iam import evaluate, method_arn
    from tests.unit.test_policy import verified

    route = ROUTES_BY_NAME["list_audit"]
    overrides = {"audit:read": "read:audit"}
    assert route.permission == "audit:read" and required_permission(route, overrides) == "read:audit"
    arn = method_arn("GET", "/organizations/org1abc/audit")
    for scopes, decision in (({"read:audit"}, "allow"), ({"audit:read"}, "implicit_deny")):
        document = build_policy(arn, verified(TokenKind.ORGANIZATION, scopes), overrides)["policyDocument"]
        assert evaluate(document, arn) == decision, scopes


@pytest.fixture
def clients_made(monkeypatch):
    """The services of every boto3 client made from here on, in order."""
    import boto3

    made: list[str] = []
    real_client = boto3.client

    def counting(service, *args, **kwargs):
        made.append(service)
        return real_client(service, *args, **kwargs)

    monkeypatch.setattr(boto3, "client", counting)
    return made


def test_the_lease_limits_clean_ups_and_audit_trail_share_one_dynamodb_client(handlers, aws, clients_made):
    """Each boto3 client costs ≈ 10 ms to make (more for the first): a write function made up to four DynamoDB clients
    on its first request (orgapi.base.aws_clients). Made side by side, as reads ahead do, it is still one."""
    import threading

    from orgapi.operations.services import services

    made = clients_made
    handlers("add_members")
    shared = services()
    stores = [
        lambda: shared.leases()._client,
        lambda: shared.rate_windows._client,  # type: ignore[union-attr]
        lambda: shared.cleanups.client,  # type: ignore[union-attr]
        lambda: shared.audit.dynamodb,  # type: ignore[union-attr]
    ]
    seen: list = []
    threads = [threading.Thread(target=lambda get=get: seen.append(get())) for get in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert made == ["dynamodb"] and len({id(client) for client in seen}) == 1
    assert call(handlers, "add_members", body={"userIds": ["carol"]}, authorizer=org_context(scopes=ADMIN))[0] == 201
    assert made == ["dynamodb", "events"]


@pytest.mark.parametrize(("in_lambda", "made"), [(True, ["dynamodb", "events"]), (False, [])])
def test_in_lambda_the_aws_clients_are_made_during_init(handlers, aws, monkeypatch, clients_made, in_lambda, made):
    """The first DynamoDB client costs ≈ 100 ms (boto3's session, endpoint rules, the service model): in Lambda it is
    made while the function initializes, as the M2M secret is read, not by the first write request."""
    from orgapi.operations.services import services

    making = clients_made
    if in_lambda:
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "add_members")
    services.cache_clear()
    shared = services()
    assert making == made
    assert call(handlers, "add_members", body={"userIds": ["carol"]}, authorizer=org_context(scopes=ADMIN))[0] == 201
    assert sorted(making) == ["dynamodb", "events"]  # made once either way
    assert shared is services()
