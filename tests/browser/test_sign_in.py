"""Sign-in through the stand-in with Logto's browser SDK in Chromium: a person's sign-in, an expiring access token
renewed with the refresh token (no new sign-in), sign-out, and two people in two browsers at once."""

from __future__ import annotations

import time

import requests
from playwright.sync_api import Page, expect

from local.logto.credentials import SEEDED_PASSWORD, SPA_APP_ID

from .test_console import sign_in

DEMO = "demo0org0001"


def token_requests(stack) -> int:
    return requests.get(f"{stack.logto}/__dev/stats", timeout=5).json()["routes"].get("POST /oidc/token", 0)


def test_a_person_signs_in_on_the_stand_ins_page_and_lands_back_in_the_console(stack, page: Page):
    page.goto(stack.console)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#seeded-users")).to_contain_text(SEEDED_PASSWORD)  # the hint, from /__dev/info
    page.click("#sign-in")
    page.wait_for_url(f"{stack.logto}/sign-in?uid=*")  # the stand-in's own page, on its origin
    page.fill("input[name=username]", "bob")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    expect(page.locator("#failed")).to_have_text("Incorrect username or password.")
    page.fill("input[name=password]", SEEDED_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{stack.console}/")  # the SDK's callback handled, then back where sign-in started
    expect(page.locator("#signed-in")).to_contain_text("signed in as bob")
    expect(page.locator("#org-list")).to_contain_text("Acme (demo)")  # GET /organizations with the SDK's token
    # the SDK keeps the tokens (its storage), not the console: a reload is still signed in, with no new sign-in
    page.reload()
    expect(page.locator("#signed-in")).to_contain_text("signed in as bob")
    expect(page.locator("#sign-in")).to_be_hidden()


def test_an_expired_access_token_is_renewed_with_the_refresh_token(stack, page: Page):
    # warm the authorizer and the function first: a cold start must not eat the short lifetime
    warm = requests.get(
        f"{stack.url}/organizations",
        headers={"Authorization": f"Bearer {stack.token('global_api', 'alice')}"},
        timeout=60,
    )
    assert warm.status_code == 200
    requests.post(f"{stack.logto}/__dev/oidc", json={"accessTokenTtl": 10}, timeout=5).raise_for_status()
    try:
        page.goto(stack.console)
        sign_in(page, "alice")
        expect(page.locator("#org-list")).to_contain_text("Acme (demo)")
        page.locator("#org-list").get_by_role("button", name="Acme (demo)").click()
        expect(page.locator("#org-id")).to_have_text(DEMO)
        before = token_requests(stack)
        time.sleep(11)  # both tokens (global API, organization) are past their exp now
        page.evaluate("document.getElementById('log').replaceChildren()")  # what follows runs on renewed tokens
        page.fill("#org-name", "Acme (renamed)")
        page.click("#rename-form button")  # PATCH with the organization token, GET /organizations with the global one
        expect(page.locator("#org-title")).to_have_text("Acme (renamed)")
        expect(page.locator("#org-list")).to_contain_text("Acme (renamed)")
        assert token_requests(stack) >= before + 2  # renewed through the token endpoint (refresh_token grant)
        assert "/sign-in" not in page.url
        expect(page.locator("#log li.error")).to_have_count(0)
        page.fill("#org-name", "Acme (demo)")
        page.click("#rename-form button")
        expect(page.locator("#org-title")).to_have_text("Acme (demo)")
    finally:
        requests.post(f"{stack.logto}/__dev/oidc", json={"accessTokenTtl": 3600}, timeout=5)


def test_sign_out_ends_the_session_and_revokes_the_refresh_token(stack, page: Page):
    page.goto(stack.console)
    sign_in(page, "carol")
    refresh_token = page.evaluate(f"localStorage.getItem('logto:{SPA_APP_ID}:refreshToken')")
    assert refresh_token
    page.click("#sign-out")
    page.wait_for_url(f"{stack.console}/")
    expect(page.locator("#sign-in")).to_be_visible()
    expect(page.locator("#workspace")).to_be_hidden()
    answer = requests.post(
        f"{stack.logto}/oidc/token",
        data={"grant_type": "refresh_token", "client_id": SPA_APP_ID, "refresh_token": refresh_token},
        timeout=5,
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    # the stand-in's session is over too: signing in again asks for the password
    page.click("#sign-in")
    page.wait_for_url(f"{stack.logto}/sign-in?uid=*")


def test_two_people_in_two_browsers(stack, browser):
    contexts = [browser.new_context(), browser.new_context()]
    try:
        alice, bob = (context.new_page() for context in contexts)
        for page, user in ((alice, "alice"), (bob, "bob")):
            page.set_default_timeout(15_000)
            page.goto(stack.console)
            sign_in(page, user)
        for page in (alice, bob):
            page.locator("#org-list").get_by_role("button", name="Acme (demo)").click()
        expect(alice.locator("#me")).to_contain_text("alice: roles admin")
        expect(bob.locator("#me")).to_contain_text("bob: roles member")
        expect(alice.locator("#org-scopes")).to_contain_text("member:invite")
        expect(bob.locator("#org-scopes")).to_have_text("member:read")
        # bob's organization token cannot invite; alice's can, at the same time
        expect(bob.locator("#org-invitations")).to_contain_text("403 forbidden")
        expect(alice.locator("#org-invitations")).not_to_contain_text("403")
    finally:
        for context in contexts:
            context.close()


def test_a_callback_the_sdk_cannot_use_is_shown_and_sign_in_offered_again(stack, page: Page):
    """No sign-in session for this callback (a stale or forged link): the page says why instead of staying blank."""
    page.goto(f"{stack.console}/callback?code=forged&state=forged")
    expect(page.locator("#log li.error")).to_contain_text("sign_in_session.not_found")
    expect(page.locator("#sign-in")).to_be_visible()
    assert page.url == f"{stack.console}/"
