"""events/ stays valid for the real `sam local invoke`: every event has the shape SAM's own
`sam local generate-event` gives for its source (API Gateway proxy, TOKEN authorizer, scheduled EventBridge event)."""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAM = ROOT / ".venv-tools" / "bin" / "sam"
EVENTS = sorted((ROOT / "events").glob("*.json"))


@functools.cache
def generated(*command: str) -> dict:
    if not SAM.exists():
        pytest.fail("needs .venv-tools (SAM CLI): run the tests with `make test`")
    done = subprocess.run(
        [str(SAM), "local", "generate-event", *command],
        capture_output=True,
        text=True,
        check=True,
        env={"SAM_CLI_TELEMETRY": "0", "PATH": "/usr/bin:/bin"},
    )
    return json.loads(done.stdout)


def kind_of(event: dict) -> tuple[str, ...]:
    if event.get("type") == "TOKEN":
        return ("apigateway", "authorizer")
    if event.get("source") == "aws.events":
        return ("cloudwatch", "scheduled-event")
    return ("apigateway", "aws-proxy")


# Maps whose keys the request decides (SAM's sample has its own headers, path and query): only their type is compared.
FREE_MAPS = {
    "headers",
    "multiValueHeaders",
    "pathParameters",
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "stageVariables",
    "detail",
}


def same_shape(ours: object, sams: object, where: str) -> list[str]:
    """Every key SAM's event has, ours has, with a value of the same JSON type (null allowed where the request may
    leave it out), and no key SAM's event lacks."""
    if isinstance(sams, dict):
        if not isinstance(ours, dict):
            return [f"{where}: an object in SAM's event"]
        problems = [f"{where}.{key}: missing" for key in sams if key not in ours]
        problems += [f"{where}.{key}: not in SAM's event" for key in ours if key not in sams]
        for key in sams.keys() & ours.keys():
            if ours[key] is None:
                continue
            if key in FREE_MAPS:
                problems += [] if isinstance(ours[key], dict) else [f"{where}.{key}: not an object"]
                continue
            problems += same_shape(ours[key], sams[key], f"{where}.{key}")
        return problems
    if sams is not None and ours is not None and type(ours) is not type(sams):
        return [f"{where}: {type(ours).__name__}, SAM's is {type(sams).__name__}"]
    return []


@pytest.mark.parametrize("path", EVENTS, ids=lambda p: p.name)
def test_event_has_the_shape_sam_generates(path):
    event = json.loads(path.read_text())
    sams = generated(*kind_of(event))
    problems = same_shape(event, sams, "$")
    if kind_of(event) == ("apigateway", "aws-proxy"):
        # The one addition: the context our TOKEN authorizer returns, as API Gateway passes it to the integration.
        problems = [p for p in problems if p != "$.requestContext.authorizer: not in SAM's event"]
        assert "authorizer" in event["requestContext"] or event["resource"] == "/health"  # what our authorizer passes
    if kind_of(event) == ("cloudwatch", "scheduled-event"):
        # EventBridge puts "version": "0" in every event (its event structure reference); SAM's older sample has none.
        problems = [p for p in problems if p != "$.version: not in SAM's event"]
    assert not problems, problems
