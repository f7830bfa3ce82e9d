"""The demo console on Logto's browser SDK: the build step (npm ci from the lockfile, then esbuild, once, cached) and
the console's /config.json (the stand-in, or LOGTO_ENDPOINT with LOGTO_SPA_APP_ID)."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from pathlib import Path

import pytest

from local import console_build
from local.console_server import create_console_app
from local.logto.credentials import SPA_APP_ID

FAKE_NPM = """#!/bin/sh
echo "$@" >> "$NPM_LOG"
case "$1" in
  ci) mkdir -p node_modules && touch node_modules/.package-lock.json ;;
  run) mkdir -p dist && echo 'export {}' > dist/logto-browser.js ;;
esac
"""


@pytest.fixture
def sdk_dir(tmp_path, monkeypatch):
    """A copy of local/console-sdk's inputs and an `npm` that only records its calls."""
    sdk = tmp_path / "console-sdk"
    sdk.mkdir()
    for name in console_build.INPUTS:
        shutil.copy(console_build.SDK_DIR / name, sdk / name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(FAKE_NPM)
    npm.chmod(npm.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("NPM_LOG", str(tmp_path / "npm.log"))
    monkeypatch.setattr(console_build, "SDK_DIR", sdk)
    monkeypatch.setattr(console_build, "BUNDLE", sdk / "dist" / "logto-browser.js")
    return sdk


def npm_calls(sdk: Path) -> list[str]:
    log = sdk.parent / "npm.log"
    return log.read_text().splitlines() if log.exists() else []


def test_the_first_run_installs_from_the_lockfile_and_bundles_then_is_cached(sdk_dir, capfd):
    assert console_build.ensure_bundle().exists()
    calls = npm_calls(sdk_dir)
    assert calls[0].startswith("ci --ignore-scripts")  # `npm ci`: exactly the lockfile, never a newer version
    assert calls[1] == "run --silent bundle"
    assert "installing console dependencies (first run: about" in capfd.readouterr().out
    console_build.ensure_bundle()
    assert len(npm_calls(sdk_dir)) == 2  # nothing run again


def test_a_changed_entry_is_bundled_again_without_a_new_install(sdk_dir):
    console_build.ensure_bundle()
    (sdk_dir / "entry.js").write_text((sdk_dir / "entry.js").read_text() + "\n// changed\n")
    console_build.ensure_bundle()
    assert npm_calls(sdk_dir)[2:] == ["run --silent bundle"]


def test_no_npm_is_a_one_line_error(sdk_dir, monkeypatch):
    monkeypatch.setenv("PATH", str(sdk_dir))  # no npm there
    with pytest.raises(console_build.BuildError, match=r"needs Node\.js and npm"):
        console_build.ensure_bundle()


def test_the_lockfile_pins_the_browser_sdk_from_the_npm_registry():
    lock = json.loads((console_build.SDK_DIR / "package-lock.json").read_text())
    entry = lock["packages"]["node_modules/@logto/browser"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", entry["version"])  # one exact version
    assert entry["integrity"].startswith("sha512-")  # checked by npm ci against what the registry serves
    assert (
        json.loads((console_build.SDK_DIR / "package.json").read_text())["dependencies"]["@logto/browser"]
        == entry["version"]
    )


def test_config_points_the_console_at_the_stand_in():
    app = create_console_app("http://127.0.0.1:3000")
    app.config.update(STAND_IN="http://127.0.0.1:3002", API_RESOURCE="https://api.example.com/org")
    body = app.test_client().get("/config.json").get_json()
    assert body["logto"] == {
        "endpoint": "http://127.0.0.1:3002",
        "appId": SPA_APP_ID,
        "resource": "https://api.example.com/org",
    }


def test_config_points_the_console_at_your_logto(monkeypatch):
    monkeypatch.setenv("LOGTO_ENDPOINT", "https://tenant.logto.app/")
    monkeypatch.setenv("LOGTO_SPA_APP_ID", "my-spa")
    app = create_console_app("http://127.0.0.1:3000")
    app.config.update(API_RESOURCE="https://api.example.com/org")
    client = app.test_client()
    logto = client.get("/config.json").get_json()["logto"]
    assert logto == {
        "endpoint": "https://tenant.logto.app",
        "appId": "my-spa",
        "resource": "https://api.example.com/org",
    }
    monkeypatch.delenv("LOGTO_SPA_APP_ID")
    assert client.get("/config.json").get_json()["logto"]["appId"] is None  # the page says to set it
    assert client.get("/__dev/tokens").status_code == 404  # no token shortcut through the console any more


def test_the_callback_path_serves_the_console_page():
    client = create_console_app("http://127.0.0.1:3000").test_client()
    assert b'id="sign-in"' in client.get("/callback?code=x&state=y").data
