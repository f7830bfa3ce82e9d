"""The demo console's own origin (`make local`: http://127.0.0.1:$CONSOLE_PORT): static files from local/console/, the
API's address, and the local stand-in's token shortcut.

Every API call the console makes goes from this origin to the API's, so it is cross-origin exactly as a single-page
app on its own domain would be. The stand-in's /__dev/tokens and /__dev/info are proxied here (same origin for the
console) rather than given CORS headers of their own: the shortcut stays a local-only tool, outside the CORS rules
that are under test.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from flask import Flask, Response, request, send_from_directory

STATIC = Path(__file__).resolve().parent / "console"


def create_console_app(api_url: str) -> Flask:
    """config STAND_IN: the Logto stand-in's address, or None when `make local` uses a real Logto (no shortcut)."""
    app = Flask("console", static_folder=None)
    app.config["STAND_IN"] = None

    @app.get("/")
    @app.get("/invite/<invitation_id>")  # where `make local`'s INVITATION_LINK points
    def index(invitation_id: str | None = None) -> Response:
        return send_from_directory(STATIC, "index.html")

    @app.get("/<path:name>")
    def static_file(name: str) -> Response:
        return send_from_directory(STATIC, name)  # refuses paths outside the folder

    @app.get("/config.json")
    def config() -> Response:
        body = {"api": api_url, "standIn": app.config["STAND_IN"] is not None}
        return Response(json.dumps(body), mimetype="application/json")

    @app.route("/__dev/<any(tokens, info):what>", methods=["GET", "POST"])
    def stand_in(what: str) -> Response:
        logto_url = app.config["STAND_IN"]
        if logto_url is None:
            body = {"message": "No Logto stand-in: `make local` is using your Logto. Paste a token from your app."}
            return Response(json.dumps(body), status=404, mimetype="application/json")
        forwarded = urllib.request.Request(
            f"{logto_url}/__dev/{what}",
            data=request.get_data() if request.method == "POST" else None,
            headers={"Content-Type": "application/json"},
            method=request.method,
        )
        try:
            with urllib.request.urlopen(forwarded, timeout=5) as answer:
                return Response(answer.read(), status=answer.status, mimetype="application/json")
        except urllib.error.HTTPError as error:
            return Response(error.read(), status=error.code, mimetype="application/json")

    return app
