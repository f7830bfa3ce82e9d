"""The demo console in a real browser, every call cross-origin, on tokens from Logto's browser SDK: sign in on the
stand-in's sign-in page, create an organization, invite, switch to the
invitee and accept, leave, decline; members (paginated), roles, role change, removal, revocation."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from local.logto.credentials import SEEDED_PASSWORD

ERRORS = "#log li.error"
PUT_OK = re.compile(r"PUT /organizations/.+/roles → 200")


def sign_in(page: Page, user: str) -> None:
    """As a person does: the console's Sign in, the stand-in's sign-in page (username, password), back in the
    console, signed in by Logto's browser SDK."""
    page.click("#sign-in")
    page.wait_for_url("**/sign-in?uid=*")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", SEEDED_PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#signed-in")).to_contain_text(f"signed in as {user}")


def switch_user(page: Page, user: str) -> None:
    page.click("#sign-out")
    expect(page.locator("#sign-in")).to_be_visible()
    sign_in(page, user)


def test_invitation_link_opens_the_console(stack, page: Page):
    """make local's INVITATION_LINK points at the console: the page says what to do with it."""
    page.goto(f"{stack.console}/invite/abc123")
    expect(page.locator("#invite-link")).to_be_visible()
    expect(page.locator("#invite-link-id")).to_have_text("abc123")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")


def test_console_story(stack, page: Page, output_dir):
    page.goto(stack.console)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#api-url")).to_have_text(stack.url)
    sign_in(page, "alice")
    expect(page.locator("#org-list")).to_contain_text("demo0org0001")

    # create an organization (POST /organizations with an Idempotency-Key): the console opens it
    page.fill("#new-org-name", "Browser Co")
    page.click("#create-org-form button")
    expect(page.locator("#org-title")).to_have_text("Browser Co")
    org_id = page.locator("#org-id").inner_text()
    expect(page.locator("#org-list")).to_contain_text("Browser Co")
    expect(page.locator("#members tbody tr")).to_have_count(1)
    expect(page.locator("#members tbody")).to_contain_text("alice@example.com")
    expect(page.locator("#roles")).to_contain_text("member:invite")  # roles with their permissions

    # invite carol as a member; the invitation is listed
    page.fill("#invitee", "carol@example.com")
    page.select_option("#invite-role", "member")
    page.click("#invite-form button")
    expect(page.locator("#org-invitations [data-invitee='carol@example.com']")).to_contain_text("Pending")

    # members: add bob and dave, so that two per page makes two pages (Total-Number read across origins)
    for user in ("bob", "dave"):
        page.fill("#add-user-id", user)
        page.select_option("#add-role", "member")
        page.click("#add-member-form button")
        expect(page.locator(f"#members tr[data-user='{user}']")).to_be_visible()
    page.select_option("#page-size", "2")
    expect(page.locator("#page-info")).to_have_text("page 1 of 2 (Total-Number: 3)")
    page.click("#next")
    expect(page.locator("#page-info")).to_have_text("page 2 of 2 (Total-Number: 3)")
    expect(page.locator("#members tbody tr")).to_have_count(1)
    page.select_option("#page-size", "10")
    expect(page.locator("#members tbody tr")).to_have_count(3)

    # change bob's roles to admin, then remove dave
    bob = page.locator("#members tr[data-user='bob']")
    bob.locator("input[value=admin]").check()
    bob.locator("input[value=member]").uncheck()
    bob.get_by_role("button", name="Save roles").click()
    expect(page.locator("#log li", has_text=PUT_OK)).to_have_count(1)
    expect(page.locator("#members tr[data-user='bob'] input[value=admin]")).to_be_checked()
    page.locator("#members tr[data-user='dave']").get_by_role("button", name="Remove").click()
    expect(page.locator("#members tr[data-user='dave']")).to_have_count(0)

    # an operation error is shown readably (status, code, message): alice cannot remove herself, the last admin
    bob.locator("input[value=admin]").uncheck()
    bob.locator("input[value=member]").check()
    bob.get_by_role("button", name="Save roles").click()
    expect(page.locator("#log li", has_text=PUT_OK)).to_have_count(2)
    page.locator("#members tr[data-user='alice']").get_by_role("button", name="Remove").click()
    expect(page.locator(ERRORS).first).to_contain_text(re.compile(r"→ 409 last_creator: .+"))

    # invite and revoke
    page.fill("#invitee", "erin@example.com")
    page.click("#invite-form button")
    erin = page.locator("#org-invitations [data-invitee='erin@example.com']")
    expect(erin).to_contain_text("Pending")
    erin.get_by_role("button", name="Revoke").click()
    expect(erin).to_contain_text("Revoked")
    page.screenshot(path=str(output_dir / "console.png"), full_page=True)

    expect(page.locator(ERRORS)).to_have_count(1)  # only the refusal above (409 last_creator)

    # switch to the invitee: the invitation is in carol's inbox (GET /invitations), she accepts it
    switch_user(page, "carol")
    inbox = page.locator("#invitation-inbox li", has_text="Browser Co")
    expect(inbox).to_be_visible()
    inbox.get_by_role("button", name="Accept").click()
    expect(page.locator("#org-list")).to_contain_text("Browser Co")
    page.locator("#org-list").get_by_role("button", name="Browser Co").click()
    expect(page.locator("#org-id")).to_have_text(org_id)
    expect(page.locator("#me")).to_contain_text("carol: roles member")
    expect(page.locator("#members tr[data-user='carol']")).to_be_visible()
    # a member without member:invite: the section shows the 403 instead of what alice saw there
    expect(page.locator("#org-invitations")).to_contain_text("403 forbidden")
    page.screenshot(path=str(output_dir / "console-invitee.png"), full_page=True)

    # carol leaves (DELETE .../members/me); dave declines the seeded invitation to the demo organization
    page.click("#leave")
    expect(page.locator("#organization")).to_be_hidden()
    expect(page.locator("#org-list")).not_to_contain_text("Browser Co")
    # carol's 403 above, and her Activity view's (a member holds no audit:read); the log starts again with each sign-in
    expect(page.locator(ERRORS)).to_have_count(2)
    switch_user(page, "dave")
    seeded = page.locator("#invitation-inbox li", has_text="invites you")
    expect(seeded).to_have_count(1)
    seeded.get_by_role("button", name="Decline").click()
    expect(page.locator("#invitation-inbox")).to_contain_text("no pending invitations")


def test_activity_shows_the_audit_trail_and_pages_with_next_cursor(stack, page: Page):
    """The Activity view: newest first, and the next page through Next-Cursor, a header the browser lets the page
    read only because the API exposes it (Access-Control-Expose-Headers)."""
    page.goto(stack.console)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    sign_in(page, "carol")
    page.fill("#new-org-name", "Activity Co")
    page.click("#create-org-form button")
    expect(page.locator("#org-title")).to_have_text("Activity Co", timeout=15000)  # a cold worker on a busy machine
    expect(page.locator("#activity li[data-action='organization.created']")).to_have_count(1)
    for n in range(10):
        page.fill("#org-name", f"Activity Co {n}")
        page.click("#rename-form button >> nth=0")
        expect(page.locator("#org-title")).to_have_text(f"Activity Co {n}")
    page.click("#activity-refresh")
    expect(page.locator("#activity li")).to_have_count(10)
    expect(page.locator("#activity li").first).to_have_attribute("data-action", "organization.updated")
    expect(page.locator("#activity li").first).to_contain_text("carol")
    page.click("#activity-more")
    expect(page.locator("#activity li")).to_have_count(11)
    expect(page.locator("#activity li").last).to_have_attribute("data-action", "organization.created")
    expect(page.locator("#activity-more")).to_be_hidden()
    expect(page.locator(ERRORS)).to_have_count(0)
