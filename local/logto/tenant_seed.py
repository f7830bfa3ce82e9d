"""The stand-in's tenant comes from tenant/description.yaml, applied by `make logto-setup`'s own code through the
stand-in's own Management API (in-process), so `make local`'s tenant is exactly what a real tenant gets and
`make logto-setup CHECK=1` against a fresh `make local` finds nothing."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

import tenant  # noqa: F401 - puts the layer (orgapi) on the path
from local.logto.credentials import M2M_APP_ID, M2M_APP_SECRET
from orgapi.base.config import load_settings
from tenant.admin_api import AdminApi, Reply, Transport
from tenant.description import Desired, load, resolve
from tenant.reconcile import Reconciler

SEEDING = "standin.seeding"  # WSGI environ flag: the stand-in's own seed is neither counted nor given faults


def flask_transport(client: FlaskClient, *, seeding: bool = False) -> Transport:
    """The Management API over a Flask test client (the stand-in in-process)."""

    def send(
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        params: dict[str, Any] | None = None,
        json: Any = None,
        form: dict[str, str] | None = None,
    ) -> Reply:
        response = client.open(
            path,
            method=method,
            headers=headers,
            query_string=params,
            json=json,
            data=form,
            environ_base={SEEDING: True} if seeding else {},
        )
        return Reply(response.status_code, dict(response.headers), response.get_json(silent=True))

    return send


def desired_for(api_resource: str, management_resource: str, env: Mapping[str, str] | None = None) -> Desired:
    """The description in the names `make local` gives the service (its CREATOR_ROLE, PERMISSION_OVERRIDES)."""
    env = os.environ if env is None else env
    settings = load_settings(
        {
            "LOGTO_ENDPOINT": "http://127.0.0.1",  # not used: the requests go in-process
            "API_RESOURCE": api_resource,
            "LOGTO_MANAGEMENT_API_RESOURCE": management_resource,
            "CREATOR_ROLE": env.get("CREATOR_ROLE", ""),
            "PERMISSION_OVERRIDES": env.get("PERMISSION_OVERRIDES", ""),
        }
    )
    return resolve(load(), settings)


def apply_description(app: Flask, desired: Desired, management_resource: str) -> None:
    api = AdminApi(flask_transport(app.test_client(), seeding=True), M2M_APP_ID, M2M_APP_SECRET, management_resource)
    api.sign_in()
    Reconciler(api, desired, apply=True).run()
