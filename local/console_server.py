"""The demo console's own origin (`make local`: http://127.0.0.1:$CONSOLE_PORT): static files from local/console/,
Logto's browser SDK bundled by local/console_build.py, and /config.json (the API's address and the Logto the console
signs in to: the stand-in, or LOGTO_ENDPOINT with the SPA app LOGTO_SPA_APP_ID).

Every API call the console makes goes from this origin to the API's, so it is cross-origin exactly as a single-page
app on its own domain would be. The stand-in's /__dev/info (its seeded users, shown as a hint on the page) is proxied
here rather than given CORS headers of its own: it stays a local-only tool, outside the CORS rules under test.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

from flask import Flask, Response, send_file, send_from_directory

from local.console_build import BUNDLE
from local.logto.credentials import SPA_APP_ID

STATIC = Path(__file__).resolve().parent / "console"


def create_console_app(api_url: str) -> Flask:
    """config STAND_IN: the Logto stand-in's address, or None when `make local` uses a real Logto; API_RESOURCE: the
    API's resource indicator (what the console asks Logto's SDK for tokens of)."""
    app = Flask("console", static_folder=None)
    app.config["STAND_IN"] = None
    app.config["API_RESOURCE"] = None

    @app.get("/")
    @app.get("/callback")  # the SPA app's redirect URI: the SDK's handleSignInCallback runs here
    @app.get("/invite/<invitation_id>")  # where `make local`'s INVITATION_LINK points
    def index(invitation_id: str | None = None) -> Response:
        return send_from_directory(STATIC, "index.html")

    @app.get("/vendor/logto-browser.js")
    def sdk() -> Response:
        return send_file(BUNDLE, mimetype="text/javascript")

    @app.get("/<path:name>")
    def static_file(name: str) -> Response:
        return send_from_directory(STATIC, name)  # refuses paths outside the folder

    @app.get("/config.json")
    def config() -> Response:
        stand_in = app.config["STAND_IN"]
        logto = {
            # with LOGTO_ENDPOINT: your tenant, and the SPA app you registered there for this console's origin
            "endpoint": stand_in or os.environ.get("LOGTO_ENDPOINT", "").rstrip("/") or None,
            "appId": SPA_APP_ID if stand_in else os.environ.get("LOGTO_SPA_APP_ID") or None,
            "resource": app.config["API_RESOURCE"],
        }
        body = {"api": api_url, "standIn": stand_in is not None, "logto": logto}
        return Response(json.dumps(body), mimetype="application/json")

    @app.get("/__dev/info")
    def stand_in_info() -> Response:
        logto_url = app.config["STAND_IN"]
        if logto_url is None:
            body = {"message": "No Logto stand-in: `make local` is using your Logto."}
            return Response(json.dumps(body), status=404, mimetype="application/json")
        forwarded = urllib.request.Request(f"{logto_url}/__dev/info")
        try:
            with urllib.request.urlopen(forwarded, timeout=5) as answer:
                return Response(answer.read(), status=answer.status, mimetype="application/json")
        except urllib.error.HTTPError as error:
            return Response(error.read(), status=error.code, mimetype="application/json")

    return app
