"""Pending clean-ups: write-ahead items, holds, leases, retries with backoff, counts for the alarm."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from orgapi.base.aws_clients import AwsClients
from orgapi.base.deadline import Deadline
from orgapi.outcomes.cleanup import CleanupBusy, CleanupStore, run_pending


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


@pytest.fixture
def store(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        client.create_table(
            TableName="cleanups",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        )
        clock = Clock()
        yield CleanupStore("cleanups", clock=clock, clients=AwsClients(dynamodb=client)), clock


def test_an_item_is_held_while_its_request_may_run_then_run_once(store):
    store, clock = store
    assert store.begin("create", "c1", {"name": "x"}, hold_seconds=15) is None
    runs = []
    handlers = {"create": lambda cleanup, deadline: runs.append(cleanup.data) or True}
    result = run_pending(store, handlers, Deadline.after(30))
    assert (result.done, result.pending, result.not_due, runs) == (0, 1, 1, [])
    clock.now += 16
    result = run_pending(store, handlers, Deadline.after(30))
    assert (result.done, result.pending, runs) == (1, 0, [{"name": "x"}])
    assert store.pending() == []


def test_a_retry_finds_the_earlier_attempts_item_and_keeps_its_data(store):
    store, _ = store
    store.begin("create", "c1", {"organization_id": "o1"}, hold_seconds=0)
    earlier = store.begin("create", "c1", {"name": "other"}, hold_seconds=15)
    assert earlier is not None and earlier.data == {"organization_id": "o1"}
    (item,) = store.pending()
    assert item.data == {"organization_id": "o1"} and item.not_before > store.now()


def test_a_failing_handler_keeps_the_item_with_backoff_and_it_becomes_overdue(store):
    store, clock = store
    store.begin("create", "c1", {}, hold_seconds=0)

    def fails(cleanup, deadline):
        raise RuntimeError("Logto down")

    result = run_pending(store, {"create": fails}, Deadline.after(30))
    assert (result.done, result.failed, result.pending) == (0, 1, 1)
    (item,) = store.pending()
    assert item.attempts == 1 and item.not_before == clock.now + 30 and not item.lease_until
    clock.now += 1000
    result = run_pending(store, {"create": fails}, Deadline.after(30))
    assert result.overdue == 1  # what PendingCleanupsAlarm watches


def test_a_leased_item_is_left_alone_and_refuses_a_retrying_request(store):
    store, _ = store
    store.begin("create", "c1", {}, hold_seconds=0)
    (item,) = store.pending()
    assert store.claim(item)
    assert not store.claim(item)  # another run
    with pytest.raises(CleanupBusy):
        store.begin("create", "c1", {}, hold_seconds=15)  # the keyed retry waits for the run


def test_unknown_kinds_are_kept_for_a_human(store):
    store, _ = store
    store.begin("mystery", "m1", {}, hold_seconds=0)
    result = run_pending(store, {}, Deadline.after(30))
    assert (result.done, result.pending) == (0, 1)


def test_a_resent_begin_is_no_earlier_attempt(store):
    """botocore sends a write again when its answer is lost: the resend's old item is this call's own, not an
    earlier attempt's (which would send creation down its resume path); a real earlier attempt still is one."""
    from tests.support.resending import ResendingClient

    store, clock = store
    resending = CleanupStore("cleanups", clock=clock, clients=AwsClients(dynamodb=ResendingClient(store.client)))
    assert resending.begin("create", "c1", {"name": "x"}, hold_seconds=15) is None
    clock.now += 60  # the same key again, a minute later: an earlier attempt left its item
    earlier = resending.begin("create", "c1", {"name": "y"}, hold_seconds=15)
    assert earlier is not None and earlier.data == {"name": "x"}
