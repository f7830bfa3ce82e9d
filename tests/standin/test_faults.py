"""Injected faults (/__dev/faults): the old kinds, answers lost after the change was made, and the chaos mode. These
play what a real network and a real Logto do to the service (issue 9); the request counters are the stand-in's own."""

import pytest
import requests

from tests.standin.conftest import DEMO
from tests.support.logto_standin import InProcessLogto


def test_status_faults_answer_before_anything_happens(logto):
    """The existing kinds: status (+ Retry-After), method, pathPrefix, times; nothing is carried out."""
    spec = {"status": 429, "retryAfter": 2, "method": "DELETE", "pathPrefix": "/api/organizations/", "times": 1}
    assert logto.client.post("/__dev/faults", json=spec).status_code == 201
    assert logto.api("GET", f"/organizations/{DEMO}").status_code == 200  # another method: untouched
    refused = logto.api("DELETE", f"/organizations/{DEMO}")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "2"
    assert logto.api("GET", f"/organizations/{DEMO}").status_code == 200  # still there
    assert logto.api("DELETE", f"/organizations/{DEMO}").status_code == 204  # times: 1 used up


def test_a_lost_status_answer_comes_after_the_change(logto):
    """{"lost": "status"}: the request is carried out, then answered 500 — what a Logto whose answer is lost after
    the commit looks like to the caller (issue 9, findings 1 and 2)."""
    logto.client.post("/__dev/faults", json={"lost": "status", "method": "DELETE", "pathPrefix": "/api/organizations/"})
    lost = logto.api("DELETE", f"/organizations/{DEMO}/users/bob")
    assert lost.status_code == 500 and lost.get_json()["code"] == "fault.injected"
    members = logto.api("GET", f"/organizations/{DEMO}/users", query_string={"page": 1}).get_json()
    assert [m["id"] for m in members] == ["alice"]  # bob was removed
    assert logto.client.get("/__dev/stats").get_json()["faults"] == {"lost": 1}


def test_unknown_fault_kinds_are_refused(logto):
    assert logto.client.post("/__dev/faults", json={"lost": "maybe"}).status_code == 400
    assert logto.client.post("/__dev/faults", json={"rate": 0.5, "kinds": ["boom"]}).status_code == 400
    assert logto.client.post("/__dev/faults", json={"rate": 2, "kinds": ["500"]}).status_code == 400


@pytest.fixture
def served(tmp_path):
    server = InProcessLogto(tmp_path, "https://api.example.com/org")
    yield server
    server.close()


def test_a_dropped_answer_closes_the_connection_after_the_change(served):
    """{"lost": "drop"}: carried out, then the connection closes with no answer (a reset/timeout after Logto
    committed)."""
    headers = {"Authorization": f"Bearer {served_token(served)}"}
    served.client.post("/__dev/faults", json={"lost": "drop", "method": "POST", "pathPrefix": "/api/organizations"})
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{served.url}/api/organizations", json={"name": "Dropped Co"}, headers=headers, timeout=5)
    names = [o["name"] for o in served.client.get("/__dev/info").get_json()["organizations"]]
    assert "Dropped Co" in names  # created although nobody heard about it
    after = requests.get(f"{served.url}/api/organizations/{DEMO}", headers=headers, timeout=5)
    assert after.status_code == 200  # the next request is served normally


def served_token(server):
    from local.logto.credentials import M2M_APP_ID, M2M_APP_SECRET

    response = requests.post(
        f"{server.url}/oidc/token",
        data={"grant_type": "client_credentials", "resource": "https://default.logto.app/api", "scope": "all"},
        auth=(M2M_APP_ID, M2M_APP_SECRET),
        timeout=5,
    )
    return response.json()["access_token"]


def test_the_chaos_mode_hits_every_api_request_at_its_rate_until_cleared(logto):
    """{"rate", "kinds", "seed"}: each /api/ request draws a fault with probability `rate` (seeded, so a run can be
    repeated); the token endpoint and /__dev/ are never hit; DELETE /__dev/faults ends it."""
    spec = {"rate": 1.0, "kinds": ["503"], "seed": 1}
    assert logto.client.post("/__dev/faults", json=spec).status_code == 201
    for _ in range(5):
        answer = logto.api("GET", f"/organizations/{DEMO}")
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
    logto.client.delete("/__dev/faults")
    assert logto.api("GET", f"/organizations/{DEMO}").status_code == 200

    def run(seed):
        logto.client.post("/__dev/faults", json={"rate": 0.5, "kinds": ["429", "500"], "seed": seed})
        codes = [logto.api("GET", f"/organizations/{DEMO}").status_code for _ in range(40)]
        logto.client.delete("/__dev/faults")
        return codes

    first = run(7)
    assert first == run(7) and set(first) == {200, 429, 500}
    assert 8 <= first.count(200) <= 32  # about half


def test_chaos_lost_answers_still_make_the_change(logto):
    """Chaos kind "lost": carried out, answered 500 (as {"lost": "status"})."""
    logto.client.post("/__dev/faults", json={"rate": 1.0, "kinds": ["lost"], "seed": 3})
    assert logto.api("POST", "/organizations", json={"name": "Chaos Co"}).status_code == 500
    logto.client.delete("/__dev/faults")
    names = [o["name"] for o in logto.client.get("/__dev/info").get_json()["organizations"]]
    assert "Chaos Co" in names
