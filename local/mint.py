"""Mint a token from the running local Logto stand-in for one of its seeded users.

  python -m local.mint org --user alice --org demo0org0001          # organization token
  python -m local.mint org-api --user alice --org demo0org0001      # organization-scoped API token
  python -m local.mint global --user carol                         # global API token (org:create)
  python -m local.mint org --app demo-m2m-app --org demo0org0001    # a machine caller's organization token
  ... [--scopes "member:read org:update"] [--expires-in 60] [--alg RS256]

Organization (org) and organization API (org-api) tokens need --org; a global API token carries none, so --org is
refused there. Scopes are what the user's roles grant (intersected with --scopes), as Logto issues them. Prints only
the token.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

KINDS = {"org": "organization", "org-api": "organization_api", "global": "global_api"}
ROOT = Path(__file__).resolve().parent.parent


def argument_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with a kind/--org/--app combination, in words for both callers: `make token KIND= ORG=` and
    this module's options. Checked before anything else, so the stand-in's answer never stands in for it."""
    if args.kind in ("org", "org-api") and not args.org:
        return f"KIND={args.kind} needs an organization: ORG=<organization id> (make token) or --org <organization id>"
    if args.kind == "global" and args.org:
        return (
            "KIND=global is a global API token and carries no organization: leave out ORG (make token) or --org, "
            "or use KIND=org-api for an organization-scoped API token"
        )
    if args.kind == "global" and args.app:
        return "KIND=global is for users: an application (--app) gets org or org-api tokens"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=sorted(KINDS))
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="seeded user id: alice, bob, carol, dave, erin")
    who.add_argument("--app", help="seeded M2M application id (org and org-api tokens): demo-m2m-app")
    parser.add_argument("--org", help="organization id: required for org and org-api tokens, refused for global")
    parser.add_argument("--scopes", help="space-separated subset of the user's permissions to request")
    parser.add_argument("--expires-in", type=int, default=3600)
    parser.add_argument("--alg", choices=["ES384", "RS256"], default="ES384")
    parser.add_argument(
        "--data",
        default=os.environ.get("LOCAL_DATA") or str(ROOT / ".local"),
        help="`make local`'s state folder (LOCAL_DATA)",
    )
    args = parser.parse_args()
    problem = argument_problem(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)  # a usage error, as argparse's own
    try:
        info = json.loads((Path(args.data) / "run.json").read_text())
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
