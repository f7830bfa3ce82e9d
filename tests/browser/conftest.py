"""Real-browser tests: Debian's Chromium driven by Playwright against the local stack (`make local`'s entry point on free
ports, its demo console on its own origin). Playwright's own browser download cannot work on these machines, so the
system Chromium is launched with the flags it needs here (no sandbox as root; no background networking, which a closed
network answers with refused connections)."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from local import harness
from local.harness import APP_PYTHON, ROOT, TOOLS_PYTHON

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OUTPUT = ROOT / "test-output"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.e2e)


@dataclass
class Stack:
    url: str
    console: str
    logto: str

    def token(self, kind: str, user: str, org: str | None = None) -> str:
        body = {"kind": kind, "userId": user, "organizationId": org}
        response = requests.post(f"{self.logto}/__dev/tokens", json=body, timeout=5)
        assert response.status_code == 200, response.text
        return response.json()["token"]


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    if not TOOLS_PYTHON.exists() or not APP_PYTHON.exists():
        pytest.fail("the browser tests need .venv and .venv-tools: run them with `make test`")
    try:
        running = harness.start(tmp_path_factory.mktemp("browser-stack"), workers=1)
    except harness.StackFailed as failed:
        pytest.fail(str(failed))
    assert running.info["allowedOrigins"] == running.console  # make local's default: the console's origin
    yield Stack(running.url, running.console, running.logto)
    running.stop()


def require_chromium(path: Path, ci: bool) -> None:
    if path.exists():
        return
    message = f"{path} is missing: `apt-get install -y chromium` (.ci/run does this on a fresh machine)"
    if ci:
        pytest.fail(message)  # CI must run them: a skip there would hide that nothing was tested
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser():
    require_chromium(CHROMIUM, ci=os.environ.get("CI", "").lower() == "true")
    from playwright.sync_api import expect, sync_playwright

    # as long as the pages' own default: on a loaded 2-core machine a sign-in plus a few API calls can pass 5 s
    expect.set_options(timeout=15_000)

    with sync_playwright() as playwright:
        # Playwright gives every launch a fresh temporary profile (--user-data-dir) of its own.
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture(scope="session")
def other_origin():
    """A page on an origin that is not on ALLOWED_ORIGINS (another port of 127.0.0.1)."""
    handler = functools.partial(_BlankPage, directory=str(ROOT / "tests" / "browser"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _BlankPage(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        body = b"<!doctype html><title>another origin</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def output_dir():
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT
