"""The per-organization lease (lease.py) on DynamoDB (moto): one holder at a time, a crashed holder's lease ends by
itself, a release never frees someone else's lease, and a busy organization is a 409 with Retry-After in time."""

from __future__ import annotations

import threading
import time

import boto3
import pytest
from moto import mock_aws

from orgapi.base.deadline import Deadline
from orgapi.rules.lease import LeaseStore, OrganizationBusy


@pytest.fixture
def table(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName="state",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        )
        yield "state"


def test_second_holder_waits_for_the_first(table):
    leases, order = LeaseStore(table), []

    def hold(name, seconds):
        with leases.hold("org1", Deadline.after(5)):
            order.append(f"{name}+")
            time.sleep(seconds)
            order.append(f"{name}-")

    first = threading.Thread(target=hold, args=("a", 0.3))
    first.start()
    time.sleep(0.05)
    hold("b", 0)
    first.join()
    assert order == ["a+", "a-", "b+", "b-"]


def test_other_organizations_are_not_blocked(table):
    leases = LeaseStore(table)
    with leases.hold("org1", Deadline.after(5)), leases.hold("org2", Deadline.after(5)):
        pass


def test_busy_organization_is_a_409_before_the_deadline(table):
    leases = LeaseStore(table)
    with leases.hold("org1", Deadline.after(5)):
        started = time.monotonic()
        with pytest.raises(OrganizationBusy) as info, leases.hold("org1", Deadline.after(2.0)):
            pass
        assert time.monotonic() - started < 2.0 and info.value.status == 409 and info.value.retry_after == 1


def test_a_crashed_holder_s_lease_ends_by_itself_and_is_not_released_by_it_later(table):
    now = [1000.0]
    crashed = LeaseStore(table, clock=lambda: now[0])
    stale = crashed.acquire("org1", Deadline.after(1))
    now[0] += 31  # MAX_HOLD_SECONDS later
    later = LeaseStore(table, clock=lambda: now[0])
    with later.hold("org1", Deadline.after(1)):
        stale.release()  # not its lease any more
        item = boto3.client("dynamodb").get_item(TableName=table, Key={"id": {"S": "lease#organization#org1"}})
        assert item["Item"]["owner"]["S"] != stale.owner


def test_a_resent_put_of_our_own_lease_is_ours_not_someone_elses(table):
    """botocore sends a write again when its answer is lost (read timeout): the resend finds the lease this request
    has just taken. It is ours: no waiting for ourselves until a 409 while our own lease locks the organization."""
    import boto3

    from orgapi.base.aws_clients import AwsClients
    from tests.support.resending import ResendingClient

    client = ResendingClient(boto3.client("dynamodb"))
    leases = LeaseStore(table, clients=AwsClients(dynamodb=client))
    lease = leases.acquire("org1", Deadline.after(3))
    assert client.sent == ["put_item", "put_item"]  # one attempt, not a busy loop
    assert lease.quiet_since == float("inf")  # what the first put replaced is unknown: the count is read again
    lease.release()
    with leases.hold("org1", Deadline.after(1)):  # released: the organization is free at once
        pass
