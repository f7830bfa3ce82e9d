"""Sequential Logto round trips per route and token kind (issue 22): counted with a recording stand-in (calls side by
side overlap, calls one after another do not), never timed. Each route stays at the minimum the contract allows
(tests/support/round_trips.py says why for each), and no request reads the same thing twice."""

from __future__ import annotations

import pytest

from tests.support.round_trips import SCENARIOS, CallRecorder, Scenario, Setup, event, reads_made_twice
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
