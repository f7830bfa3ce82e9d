"""CORS as the browser sees it (contract "Browsers (CORS)"): the preflight is answered without the authorizer, API
Gateway's own 401/403 can be read by the allowed origin, and a page on any other origin can read nothing."""

from __future__ import annotations

import requests
from playwright.sync_api import Page

FETCH = """async ([url, init]) => {
  try {
    const response = await fetch(url, init);
    return {status: response.status, body: await response.json(), total: response.headers.get('Total-Number')};
  } catch (error) {
    return {refused: String(error)};
  }
}"""


def watch_preflights(page: Page) -> list[dict]:
    """What Chromium itself received for its preflights (DevTools protocol: requests of type Preflight)."""
    seen: list[dict] = []
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.on(
        "Network.responseReceived",
        lambda event: seen.append(event["response"]) if event.get("type") == "Preflight" else None,
    )
    return seen


def test_preflight_and_gateway_errors_readable_from_the_console_origin(stack, page: Page):
    page.goto(stack.console)
    preflights = watch_preflights(page)
    api = stack.url

    # 401 from API Gateway itself (the token fails the ValidationExpression): readable, so it carries CORS headers
    unauthorized = page.evaluate(FETCH, [f"{api}/organizations", {"headers": {"Authorization": "Bearer nope"}}])
    assert unauthorized == {"status": 401, "body": {"message": "Unauthorized", "code": "unauthorized"}, "total": None}

    # 403 from the authorizer's policy (bob is a member: no org:delete)
    bob = stack.token("organization", "bob", "demo0org0001")
    forbidden = page.evaluate(
        FETCH,
        [f"{api}/organizations/demo0org0001", {"method": "DELETE", "headers": {"Authorization": f"Bearer {bob}"}}],
    )
    assert forbidden["status"] == 403 and forbidden["body"]["code"] == "forbidden"

    # a success, with the exposed Total-Number header
    members = page.evaluate(
        FETCH, [f"{api}/organizations/demo0org0001/members", {"headers": {"Authorization": f"Bearer {bob}"}}]
    )
    assert members["status"] == 200 and int(members["total"]) == len(members["body"]) >= 2

    assert preflights, "Chromium sent no preflight for a request with an Authorization header"
    for response in preflights:
        headers = {k.lower(): v for k, v in response["headers"].items()}
        assert response["status"] == 204
        assert headers["access-control-allow-origin"] == stack.console
        assert "authorization" in headers["access-control-allow-headers"].lower()
        assert "DELETE" in headers["access-control-allow-methods"]


def test_the_same_rules_on_the_wire(stack):
    origin = {"Origin": stack.console}
    preflight = requests.options(
        f"{stack.url}/organizations/demo0org0001/members/bob/roles",
        headers={**origin, "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "authorization"},
        timeout=10,
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == stack.console
    assert preflight.headers["Access-Control-Allow-Headers"] == "Authorization,Content-Type,Idempotency-Key"
    assert "PUT" in preflight.headers["Access-Control-Allow-Methods"].split(",")
    assert int(preflight.headers["Access-Control-Max-Age"]) > 0

    bob = {"Authorization": f"Bearer {stack.token('organization', 'bob', 'demo0org0001')}"}
    for response, status in (
        (requests.get(f"{stack.url}/organizations", headers=origin, timeout=10), 401),
        (requests.delete(f"{stack.url}/organizations/demo0org0001", headers={**origin, **bob}, timeout=10), 403),
        (requests.get(f"{stack.url}/no/such/route", headers=origin, timeout=10), 404),
    ):
        assert response.status_code == status
        assert response.headers["Access-Control-Allow-Origin"] == stack.console
        assert response.headers["Vary"] == "Origin"
        assert response.headers["Access-Control-Expose-Headers"] == "Total-Number, Retry-After, Next-Cursor"

    # another origin's preflight gets no Allow-Origin, nor do its data-carrying answers
    other = {"Origin": "https://evil.example.com"}
    assert "Access-Control-Allow-Origin" not in requests.options(f"{stack.url}/organizations", headers=other).headers
    data = requests.get(f"{stack.url}/organizations/demo0org0001/members", headers={**other, **bob}, timeout=10)
    assert data.status_code == 200 and "Access-Control-Allow-Origin" not in data.headers


def test_an_origin_not_on_the_list_is_refused_by_the_browser(stack, page: Page, other_origin):
    bob = stack.token("organization", "bob", "demo0org0001")
    authorized = {"headers": {"Authorization": f"Bearer {bob}"}}
    page.goto(other_origin)
    for url, init in (
        (f"{stack.url}/organizations/demo0org0001/members", authorized),  # needs a preflight: refused there
        (f"{stack.url}/health", {}),  # a simple request: sent, but its answer may not be read
    ):
        result = page.evaluate(FETCH, [url, init])
        assert "TypeError" in result.get("refused", ""), result
    # the same calls from the console's origin work: it is the origin that is refused, not the request
    page.goto(stack.console)
    assert page.evaluate(FETCH, [f"{stack.url}/health", {}])["status"] == 200
    assert page.evaluate(FETCH, [f"{stack.url}/organizations/demo0org0001/members", authorized])["status"] == 200
