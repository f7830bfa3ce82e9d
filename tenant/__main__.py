"""make logto-setup: make a Logto tenant what the service needs, from tenant/description.yaml.

  make logto-setup            plan: what it would create or change, nothing written
  make logto-setup APPLY=1    make those changes (a rerun finishes a run that stopped half-way)
  make logto-setup CHECK=1    exit 1 when the tenant differs from the description or holds a dangerous configuration

Reads LOGTO_ENDPOINT, LOGTO_M2M_APP_ID, LOGTO_M2M_APP_SECRET (a bootstrap app with Management API access), API_RESOURCE,
PERMISSION_OVERRIDES, CREATOR_ROLE, LOGTO_MANAGEMENT_API_RESOURCE, as the service does. Without LOGTO_ENDPOINT it works
on the running `make local`'s stand-in (LOCAL_DATA honoured) with the stand-in's own M2M app.
Optional: SPA_REDIRECT_URIS (+ SPA_POST_SIGN_OUT_URIS, SPA_CORS_ORIGINS, SPA_NAME; space-separated) makes an SPA app and
prints its @logto/react config; SECRET_ID makes the service's own M2M app (SERVICE_APP_NAME) with Management API
access and writes its credentials into that Secrets Manager secret (never printed).
Exit codes: 0 done / matches, 1 CHECK found differences or APPLY stopped half-way (rerun), 2 bad input (nothing written).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tenant  # noqa: F401 - puts the layer (orgapi) on the path
from orgapi.base.config import load_settings
from orgapi.base.errors import ConfigError
from tenant.admin_api import AdminApi, ApiFailure, SetupError, Transport, requests_transport
from tenant.applications import apps_from, react_config
from tenant.description import DESCRIPTION, DescriptionError, load, resolve
from tenant.reconcile import Outcome, Reconciler

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Target:
    endpoint: str
    app_id: str
    app_secret: str
    env: Mapping[str, str]  # the service's configuration: API_RESOURCE, PERMISSION_OVERRIDES, CREATOR_ROLE, ...


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise SetupError(f"{name} must be 1 or empty, got {value!r}")


def target_from(env: Mapping[str, str]) -> Target:
    """LOGTO_ENDPOINT and the bootstrap app, or the running `make local`'s stand-in (found as `make token` finds it)."""
    endpoint = env.get("LOGTO_ENDPOINT", "").strip()
    if endpoint:
        missing = [
            n for n in ("LOGTO_M2M_APP_ID", "LOGTO_M2M_APP_SECRET", "API_RESOURCE") if not env.get(n, "").strip()
        ]
        if missing:
            raise SetupError(f"{missing[0]} is not set (needed with LOGTO_ENDPOINT)")
        return Target(endpoint, env["LOGTO_M2M_APP_ID"].strip(), env["LOGTO_M2M_APP_SECRET"].strip(), env)
    data = Path(env.get("LOCAL_DATA") or ROOT / ".local")
    try:
        info = json.loads((data / "run.json").read_text())
    except (OSError, ValueError):
        raise SetupError(
            f"LOGTO_ENDPOINT is not set and no `make local` runs on {data}: set LOGTO_ENDPOINT or start `make local`"
        ) from None
    if info.get("external"):
        raise SetupError("`make local` uses your own Logto: set LOGTO_ENDPOINT and its app to set that tenant up")
    from local.logto.credentials import M2M_APP_ID, M2M_APP_SECRET

    # The running stack's own configuration: the stand-in was seeded with it, the functions read it.
    return Target(
        info["logto"], M2M_APP_ID, M2M_APP_SECRET, {**info.get("functionEnv", {}), "LOGTO_ENDPOINT": info["logto"]}
    )


def report(outcome: Outcome, *, apply: bool, check: bool, out: list[str]) -> int:
    verb = "" if apply else "would "
    for line in outcome.changes:
        out.append(f"  {'changed' if apply else 'differs' if check else 'plan'}: {verb if not check else ''}{line}")
    for line in outcome.manual:
        out.append(f"  by hand: {line}")
    for line in outcome.dangers:
        out.append(f"  dangerous: {line}")
    n, d, m = len(outcome.changes), len(outcome.dangers), len(outcome.manual)
    if check:
        if n or d or m:
            out.append(
                f"check: {n} difference(s) from the description, {m} to fix by hand, {d} dangerous configuration(s)"
            )
            return 1
        out.append("check: the tenant matches the description; nothing dangerous found")
        return 0
    if apply:
        out.append(f"applied: {n} change(s)" if n else "applied: nothing to change, the tenant matches the description")
        return 0
    out.append(
        f"plan: {n} change(s), nothing written; run again with APPLY=1 to make them"
        if n
        else "plan: nothing to change, the tenant matches the description"
    )
    return 0


def _secrets_client(secret_id: str, env: Mapping[str, str]) -> Any:
    """Secrets Manager, checked before anything is written: the secret must exist and be readable."""
    import boto3
    import botocore.exceptions

    client = boto3.client("secretsmanager", region_name=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None)
    try:
        client.describe_secret(SecretId=secret_id)
    except client.exceptions.ResourceNotFoundException:
        raise SetupError(f"SECRET_ID: no secret {secret_id} (the stack's M2MSecretArn output names it)") from None
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise SetupError(f"SECRET_ID: cannot read secret {secret_id} ({type(exc).__name__})") from None
    return client


def run(
    env: Mapping[str, str],
    *,
    transport: Transport | None = None,
    api: AdminApi | None = None,
    secrets_client: Any = None,
    out: list[str],
) -> int:
    """The whole command; `transport`/`api` let tests drive the stand-in in-process. Lines go to `out`."""
    try:
        apply, check = _flag(env, "APPLY"), _flag(env, "CHECK")
        if apply and check:
            raise SetupError("APPLY=1 and CHECK=1 together: choose one")
        path = Path(env["DESCRIPTION"]) if env.get("DESCRIPTION") else DESCRIPTION
        description = load(path)
        target = target_from(env)
        settings = load_settings({**target.env, "LOGTO_ENDPOINT": target.endpoint}, require=("API_RESOURCE",))
        desired = resolve(description, settings, str(path))
        if api is None:
            api = AdminApi(
                transport or requests_transport(settings.logto_endpoint),
                target.app_id,
                target.app_secret,
                settings.management_api_resource,
            )
        apps = apps_from(env)
        secrets_client = secrets_client or (_secrets_client(apps.secret_id, env) if apps.secret_id else None)
        api.sign_in()
        out.append(
            f"Logto {settings.logto_endpoint}, API_RESOURCE {desired.indicator}, CREATOR_ROLE {desired.creator_role}"
        )
        # A plan first, whatever the mode: a failure while reading writes nothing.
        outcome = Reconciler(api, desired, apply=False, apps=apps, secrets_client=secrets_client).run()
        if apply and outcome.changes:
            try:
                outcome = Reconciler(api, desired, apply=True, apps=apps, secrets_client=secrets_client).run()
            except (ApiFailure, SetupError) as exc:
                out.append(f"error: stopped half-way ({exc}); run APPLY=1 again to finish")
                return 1
            outcome.dangers = [
                line for line in outcome.dangers if not line.endswith(("(APPLY removes it)", "(APPLY fixes it)"))
            ]
        code = report(outcome, apply=apply, check=check, out=out)
        if apps.spa and not check:
            out.extend(
                react_config(settings.logto_endpoint, outcome.spa_id, desired.indicator, list(desired.permissions))
            )
        return code
    except (SetupError, DescriptionError, ConfigError) as exc:
        out.append(f"error: {exc}")
        return 2


def main() -> None:
    lines: list[str] = []
    code = run(os.environ, out=lines)
    for line in lines:
        print(line, file=sys.stderr if line.startswith("error:") else sys.stdout)
    sys.exit(code)


if __name__ == "__main__":
    main()
