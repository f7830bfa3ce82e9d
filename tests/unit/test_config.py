"""Configuration: defaults from the contract, and a clear ConfigError naming the variable for anything wrong."""

from __future__ import annotations

import pytest

from orgapi.base.config import load_settings
from orgapi.base.errors import ConfigError


def test_contract_defaults_for_logto_cloud():
    s = load_settings({"LOGTO_ENDPOINT": "https://abc123.logto.app/", "API_RESOURCE": "https://api.example.com"})
    assert s.logto_endpoint == "https://abc123.logto.app"
    assert s.issuer == "https://abc123.logto.app/oidc"
    assert s.jwks_url == "https://abc123.logto.app/oidc/jwks"
    assert s.token_url == "https://abc123.logto.app/oidc/token"
    assert s.management_api_resource == "https://abc123.logto.app/api"
    assert s.creator_role == "admin"


def test_self_hosted_and_custom_issuer():
    s = load_settings(
        {
            "LOGTO_ENDPOINT": "https://auth.example.com",
            "LOGTO_ISSUER": "https://login.example.com/oidc",
            "LOGTO_MANAGEMENT_API_RESOURCE": "",
            "CREATOR_ROLE": "owner",
        }
    )
    assert s.management_api_resource == "https://default.logto.app/api"
    assert s.issuer == "https://login.example.com/oidc" and s.jwks_url == "https://login.example.com/oidc/jwks"
    assert s.creator_role == "owner"


@pytest.mark.parametrize(
    "env,variable",
    [
        ({}, "LOGTO_ENDPOINT"),
        ({"LOGTO_ENDPOINT": "ftp://x"}, "LOGTO_ENDPOINT"),
        ({"LOGTO_ENDPOINT": "https://x?y=1"}, "LOGTO_ENDPOINT"),
        ({"LOGTO_ENDPOINT": "http://tenant.example.com"}, "LOGTO_ENDPOINT"),  # plain http only on loopback or locally
        ({"LOGTO_ENDPOINT": "https://x", "LOGTO_ISSUER": "notaurl"}, "LOGTO_ISSUER"),
        ({"LOGTO_ENDPOINT": "https://x", "PERMISSION_OVERRIDES": "{bad json"}, "PERMISSION_OVERRIDES"),
        (
            {"LOGTO_ENDPOINT": "https://x", "PERMISSION_OVERRIDES": '{"member:read": "has space"}'},
            "PERMISSION_OVERRIDES",
        ),
        ({"LOGTO_ENDPOINT": "https://x", "PERMISSION_OVERRIDES": '["a"]'}, "PERMISSION_OVERRIDES"),
        ({"LOGTO_ENDPOINT": "https://x", "TOKEN_CLOCK_SKEW_SECONDS": "61"}, "TOKEN_CLOCK_SKEW_SECONDS"),
        ({"LOGTO_ENDPOINT": "https://x", "JWKS_MAX_AGE_SECONDS": "soon"}, "JWKS_MAX_AGE_SECONDS"),
    ],
)
def test_invalid_configuration_names_the_variable(env, variable):
    with pytest.raises(ConfigError, match=variable):
        load_settings(env)


def test_required_variables_per_function():
    with pytest.raises(ConfigError, match="API_RESOURCE"):
        load_settings({"LOGTO_ENDPOINT": "https://x"}, require=("API_RESOURCE",))
    with pytest.raises(ConfigError, match="M2M_SECRET_ID"):
        load_settings({"LOGTO_ENDPOINT": "https://x"}, require=("M2M_SECRET_ID",))


def test_plain_http_is_allowed_on_loopback_and_in_local_runs():
    assert load_settings({"LOGTO_ENDPOINT": "http://127.0.0.1:3001"}).logto_endpoint == "http://127.0.0.1:3001"
    assert load_settings({"LOGTO_ENDPOINT": "http://localhost:3001"}).issuer == "http://localhost:3001/oidc"
    assert load_settings({"LOGTO_ENDPOINT": "http://logto:3001", "AWS_SAM_LOCAL": "true"}).logto_endpoint


def test_permission_overrides():
    s = load_settings({"LOGTO_ENDPOINT": "https://x", "PERMISSION_OVERRIDES": '{"member:read": "read:members"}'})
    assert s.permission_overrides == {"member:read": "read:members"}


@pytest.mark.parametrize("function", ["authorizer", "get_organization"])
def test_a_misconfigured_function_fails_at_cold_start(function, monkeypatch):
    import importlib.util
    from pathlib import Path

    from orgapi.operations import services

    services.services.cache_clear()
    for name in ("LOGTO_ENDPOINT", "API_RESOURCE", "M2M_SECRET_ID"):
        monkeypatch.delenv(name, raising=False)
    path = Path(__file__).resolve().parents[2] / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"cold_{function}", path)
    with pytest.raises(ConfigError, match="LOGTO_ENDPOINT"):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    services.services.cache_clear()


def test_invitation_link_is_optional_and_filled_with_the_id():
    from orgapi.base.config import invitation_link_for

    assert load_settings({"LOGTO_ENDPOINT": "https://x"}).invitation_link is None
    template = "https://app.example.com/invite/{invitationId}?from=mail"
    s = load_settings({"LOGTO_ENDPOINT": "https://x", "INVITATION_LINK": template})
    assert s.invitation_link == template
    assert invitation_link_for(template, "abc123") == "https://app.example.com/invite/abc123?from=mail"
    assert invitation_link_for(template, "a/b?c") == "https://app.example.com/invite/a%2Fb%3Fc?from=mail"
    local = {"LOGTO_ENDPOINT": "https://x", "INVITATION_LINK": "http://127.0.0.1:3001/i/{invitationId}"}
    assert load_settings(local).invitation_link


@pytest.mark.parametrize(
    "link",
    [
        "https://app.example.com/invite",  # no placeholder: every e-mail would carry the same link
        "https://app.example.com/{invitationId}/{invitationId}",
        "https://app.example.com/{invitationId}/{other}",
        "https://app.example.com/{invitationid}",
        "/invite/{invitationId}",  # relative
        "javascript:alert(1)//{invitationId}",
        "ftp://app.example.com/{invitationId}",
        "http://app.example.com/{invitationId}",  # plain http outside local runs
        "https://{invitationId}.example.com/",  # the id must not pick the host
        "https://app.example.com/a b/{invitationId}",
    ],
)
def test_invalid_invitation_link_fails_at_cold_start(link):
    with pytest.raises(ConfigError, match="INVITATION_LINK"):
        load_settings({"LOGTO_ENDPOINT": "https://x", "INVITATION_LINK": link})


def test_every_setting_is_settable_and_none_is_dead():
    """Finding 8: invitation_default_days/invitation_max_days were never used, and two JWKS settings could not be set."""
    import dataclasses

    from orgapi.base.config import Settings

    names = {f.name for f in dataclasses.fields(Settings)}
    assert not {"invitation_default_days", "invitation_max_days"} & names
    s = load_settings(
        {
            "LOGTO_ENDPOINT": "https://x",
            "JWKS_STALE_GRACE_SECONDS": "120",
            "JWKS_TIMEOUT_SECONDS": "1.5",
            "M2M_REJECTED_COOLDOWN_SECONDS": "10",
            "IDEMPOTENCY_TABLE": "idem-table",
            "CLEANUP_TABLE": "cleanup-table",
        }
    )
    assert (s.jwks_stale_grace_seconds, s.jwks_timeout_seconds, s.m2m_rejected_cooldown_seconds) == (120, 1.5, 10)
    assert (s.state_table, s.cleanup_table) == ("idem-table", "cleanup-table")


@pytest.mark.parametrize(
    "variable,value",
    [
        ("JWKS_TIMEOUT_SECONDS", "nan"),
        ("JWKS_TIMEOUT_SECONDS", "30"),
        ("JWKS_STALE_GRACE_SECONDS", "-1"),
        ("M2M_REJECTED_COOLDOWN_SECONDS", "0"),
        ("IDEMPOTENCY_TABLE", "a b"),
        ("CLEANUP_TABLE", "x"),
        ("M2M_SECRET_ID", "has space"),
        ("API_RESOURCE", "https://api example"),
    ],
)
def test_every_setting_is_validated_at_cold_start(variable, value):
    with pytest.raises(ConfigError, match=variable):
        load_settings({"LOGTO_ENDPOINT": "https://x", variable: value})


@pytest.mark.parametrize("missing", ["IDEMPOTENCY_TABLE", "CLEANUP_TABLE"])
def test_create_function_fails_to_start_without_its_tables(missing, monkeypatch):
    """Finding 8: IDEMPOTENCY_TABLE was first read per request (missing: 503 on every keyed create)."""
    import importlib.util
    from pathlib import Path

    from orgapi.operations import services

    services.services.cache_clear()
    env = {"LOGTO_ENDPOINT": "https://x", "M2M_SECRET_ID": "s", "IDEMPOTENCY_TABLE": "idem", "CLEANUP_TABLE": "clean"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "create")  # in Lambda (unit tests load handlers without tables)
    monkeypatch.delenv(missing)
    path = Path(__file__).resolve().parents[2] / "functions" / "create_organization" / "app.py"
    spec = importlib.util.spec_from_file_location("cold_create", path)
    with pytest.raises(ConfigError, match=missing):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    services.services.cache_clear()
