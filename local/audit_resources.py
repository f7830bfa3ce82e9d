"""The audit table and the event bus of a local run (and of the tests), as template.yaml declares them (AuditTable,
EventBus). No moto import here: `make local` creates them from the tools' interpreter, through the moto server's API."""

from __future__ import annotations

from typing import Any

AUDIT_INDEX = "unpublished"


def create_audit_resources(dynamodb: Any, events: Any, table: str, bus: str) -> None:
    """The audit table and the event bus as template.yaml declares them (AuditTable, EventBus)."""
    dynamodb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"} for name in ("organizationId", "sk", AUDIT_INDEX)
        ],
        KeySchema=[{"AttributeName": "organizationId", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": AUDIT_INDEX,
                "KeySchema": [
                    {"AttributeName": AUDIT_INDEX, "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    dynamodb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"}
    )
    events.create_event_bus(Name=bus)
