"""Sequential Logto round trips per route and token kind (issue 22): counted with a recording stand-in (calls side by
side overlap, calls one after another do not), never timed. Each route stays at the minimum the contract allows
(tests/support/round_trips.py says why for each), and no request reads the same thing twice."""

from __future__ import annotations

import pytest

from tests.support.round_trips import ROOT, SCENARIOS, CallRecorder, Scenario, Setup, event, reads_made_twice
from tests.support.round_trips import sequential_round_trips as rounds
from tests.unit.conftest import Context


@pytest.fixture
def recorder(logto):
    recorder = CallRecorder(logto.server.app)
    logto.server.app = recorder
    return recorder


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
def test_each_route_makes_its_minimum_of_sequential_round_trips(
    handlers, logto, recorder, tmp_path, scenario: Scenario
):
    setup = Setup(logto, tmp_path / "logto.sqlite")
    # A warm container: M2M token, the API resource's id and the role list read once before.
    assert handlers("get_own_membership")(event("get_own_membership", "organization"), Context())["statusCode"] == 200
    request = scenario.build(setup)
    response, calls = recorder.record(lambda: handlers(scenario.route)(request, Context()))
    assert response["statusCode"] < 300, response["body"]
    assert reads_made_twice(calls) == []
    made = [f"{c.method} {c.path}" for c in calls]
    assert rounds(calls) == scenario.minimum, made


def test_the_count_is_of_chains_not_of_calls():
    from tests.support.round_trips import Call

    side_by_side = [Call("GET", "/a", "", 0, 3), Call("GET", "/b", "", 1, 2)]
    one_after_another = [Call("GET", "/a", "", 0, 1), Call("GET", "/b", "", 2, 3)]
    mixed = [*side_by_side, Call("PATCH", "/c", "", 4, 5)]
    assert (rounds(side_by_side), rounds(one_after_another), rounds(mixed), rounds([])) == (1, 2, 2, 0)


def test_every_route_and_token_kind_has_a_scenario():
    """A new route (or a kind added to one) gets its minimum written down here before it ships."""
    from orgapi.contract.routes import ROUTES

    covered = {(s.route, s.kind) for s in SCENARIOS}
    assert {(r.name, kind.value) for r in ROUTES for kind in r.kinds} <= covered


# -- what the limits cost (issue 21: "a write checks its limits in at most one extra round trip") ---------------------
LIMITED = {"add_members", "create_invitation", "accept_invitation", "send_invitation_message", "create_organization"}


def _total_rounds(monkeypatch, logto, recorder, setup: Setup, scenario: Scenario, limits: str | None) -> int:
    """Sequential round trips of Logto and AWS together (DynamoDB, EventBridge), every limit off ("0") or at its
    default (None), in a warm container."""
    import importlib.util

    from orgapi.base.config import LIMITS
    from orgapi.operations import services

    for name in LIMITS:
        if limits is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, limits)
    services.services.cache_clear()

    def handler(name: str):
        spec = importlib.util.spec_from_file_location(f"fn_{name}_{limits}", ROOT / "functions" / name / "app.py")
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        return module.lambda_handler

    warm = handler("get_own_membership")(event("get_own_membership", "organization"), Context())
    assert warm["statusCode"] == 200
    run = handler(scenario.route)
    response, calls = recorder.record(lambda: run(scenario.build(setup), Context()), aws=True)
    assert response["statusCode"] < 300, response["body"]
    return rounds(calls)


def _add_without_roles(s: Setup) -> dict:
    s.not_member("carol")
    return event("add_members", "organization", body={"userIds": ["carol"]})


LIMITED_SCENARIOS = [
    *(s for s in SCENARIOS if s.route in LIMITED),
    # Without roles, adding takes the organization's lease only for the member limit.
    Scenario("add_members", "organization", 0, _add_without_roles, "no roles"),
]


@pytest.mark.parametrize(
    "scenario", LIMITED_SCENARIOS, ids=lambda s: f"{s.id}-{s.why}" if s.why == "no roles" else s.id
)
def test_limits_add_at_most_one_sequential_round_trip(handlers, logto, recorder, tmp_path, monkeypatch, scenario):
    from orgapi.operations import request

    # The organization was quiet before (its lease last released longer ago than the clocks' margin): the cost of a
    # busy organization, one more count read, is test_limits.py's.
    monkeypatch.setattr(request, "CLOCK_MARGIN_SECONDS", 0.0)
    setup = Setup(logto, tmp_path / "logto.sqlite")
    off = _total_rounds(monkeypatch, logto, recorder, setup, scenario, "0")
    on = _total_rounds(monkeypatch, logto, recorder, setup, scenario, None)
    assert on <= off + 1, (off, on)
