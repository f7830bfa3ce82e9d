"""The sign-in an app does, without a browser, against `make local`'s stack: discovery → authorize → the stand-in's
sign-in form → code → tokens (authorization code + PKCE, then the refresh_token grant as @logto/browser sends it,
local/console-sdk/node_modules/@logto/js/lib/core/fetch-token.js) → the organization API with those tokens."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from urllib.parse import parse_qs, urlsplit

import requests

from local.logto.credentials import SEEDED_PASSWORD, SPA_APP_ID

DEMO = "demo0org0001"


def test_discovery_authorize_form_code_tokens_api_call(stack):
    info = requests.get(f"{stack.logto}/__dev/info", timeout=5).json()
    console = next(a for a in info["spaApps"] if a["id"] == SPA_APP_ID)
    redirect_uri = console["redirectUris"][0]
    config = requests.get(f"{stack.logto}/oidc/.well-known/openid-configuration", timeout=5).json()

    browser = requests.Session()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {
        "client_id": SPA_APP_ID,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "xyz",
        "prompt": "consent",
        "scope": "openid offline_access profile urn:logto:scope:organizations org:create member:read",
        "resource": [info["apiResource"], "urn:logto:resource:organizations"],
    }
    form_page = browser.get(config["authorization_endpoint"], params=params, timeout=5)  # redirects to the form
    assert form_page.status_code == 200 and "/sign-in?uid=" in form_page.url
    uid = re.search(r'name="uid" value="([^"]+)"', form_page.text).group(1)
    back = browser.post(
        f"{stack.logto}/sign-in",
        data={"uid": uid, "username": "alice", "password": SEEDED_PASSWORD},
        allow_redirects=False,
        timeout=5,
    )
    back = browser.get(back.headers["Location"], allow_redirects=False, timeout=5)  # /oidc/auth/<uid>
    assert back.status_code == 303 and back.headers["Location"].startswith(redirect_uri)
    answer = parse_qs(urlsplit(back.headers["Location"]).query)
    assert answer["state"] == ["xyz"]

    tokens = requests.post(
        config["token_endpoint"],
        data={
            "client_id": SPA_APP_ID,
            "code": answer["code"][0],
            "code_verifier": verifier,
            "redirect_uri": redirect_uri,
            "grant_type": "authorization_code",
        },
        timeout=5,
    ).json()
    assert tokens["id_token"] and tokens["refresh_token"]

    def renew(**extra: str) -> str:
        body = {"client_id": SPA_APP_ID, "refresh_token": tokens["refresh_token"], "grant_type": "refresh_token"}
        renewed = requests.post(config["token_endpoint"], data={**body, **extra}, timeout=5).json()
        tokens["refresh_token"] = renewed["refresh_token"]  # rotated: the old one is spent
        return renewed["access_token"]

    global_token = renew(resource=info["apiResource"])
    listed = stack.call("GET", "/organizations", global_token)
    assert listed.status_code == 200 and DEMO in [o["id"] for o in listed.json()]

    org_token = renew(organization_id=DEMO)
    members = stack.call("GET", f"/organizations/{DEMO}/members", org_token)
    assert members.status_code == 200 and "alice" in [m["id"] for m in members.json()]

    org_api_token = renew(organization_id=DEMO, resource=info["apiResource"])
    assert stack.call("GET", f"/organizations/{DEMO}/members/me", org_api_token).json()["userId"] == "alice"
