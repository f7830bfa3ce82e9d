"""Mint a token from the running local Logto stand-in for one of its seeded users.

  python -m local.mint org --user alice --org demo0org0001          # organization token
  python -m local.mint org-api --user alice --org demo0org0001      # organization-scoped API token
  python -m local.mint global --user carol                         # global API token (org:create)
  python -m local.mint org --app demo-m2m-app --org demo0org0001    # a machine caller's organization token
  ... [--scopes "member:read org:update"] [--expires-in 60] [--alg RS256]

Scopes are what the user's roles grant (intersected with --scopes), as Logto issues them. Prints only the token.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

KINDS = {"org": "organization", "org-api": "organization_api", "global": "global_api"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=sorted(KINDS))
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="seeded user id: alice, bob, carol, dave, erin")
    who.add_argument("--app", help="seeded M2M application id (org and org-api tokens): demo-m2m-app")
    parser.add_argument("--org", help="organization id (org and org-api tokens)")
    parser.add_argument("--scopes", help="space-separated subset of the user's permissions to request")
    parser.add_argument("--expires-in", type=int, default=3600)
    parser.add_argument("--alg", choices=["ES384", "RS256"], default="ES384")
    args = parser.parse_args()
    run = Path(__file__).resolve().parent.parent / ".local" / "run.json"
    try:
        info = json.loads(run.read_text())
    except (OSError, ValueError):
        sys.exit("error: the local stack is not running; start it with `make local`")
    if info.get("external"):
        sys.exit("error: `make local` is using your own Logto (LOGTO_ENDPOINT); get tokens from your app")
    body = {
        "kind": KINDS[args.kind],
        **({"applicationId": args.app} if args.app else {"userId": args.user}),
        "organizationId": args.org,
        "expiresIn": args.expires_in,
        "alg": args.alg,
    }
    if args.scopes is not None:
        body["scopes"] = args.scopes.split()
    request = urllib.request.Request(
        f"{info['logto']}/__dev/tokens", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            print(json.load(response)["token"])
    except urllib.error.HTTPError as error:
        sys.exit(f"error: {json.load(error).get('message', error.reason)}")
    except OSError:
        sys.exit("error: the local Logto stand-in is not reachable; is `make local` running?")


if __name__ == "__main__":
    main()
