"""CORS on the functions' answers: ALLOWED_ORIGINS parsed at cold start, headers added to every response in one place,
and an origin not on the list never gets Access-Control-Allow-Origin on data (contract: "Browsers (CORS)")."""

from __future__ import annotations

import pytest

from orgapi.base.config import load_settings
from orgapi.base.cors import CorsPolicy, parse_allowed_origins
from orgapi.base.errors import ConfigError
from orgapi.gateway.cors import request_origin, with_cors
from tests.unit.test_operations import call, org_context

APP = "https://app.example.com"
LOCAL = "http://127.0.0.1:3001"


def test_empty_means_off():
    for raw in ("", "  "):
        policy = parse_allowed_origins(raw)
        assert not policy.enabled and policy.headers(APP) == {}


def test_exact_origins_and_star():
    policy = parse_allowed_origins(f"{APP}, {LOCAL},http://[::1]:8080")
    assert policy.origins == {APP, LOCAL, "http://[::1]:8080"}
    star = parse_allowed_origins("*")
    assert star.any_origin and star.headers(None)["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    "raw",
    [
        "https://app.example.com/",  # trailing slash: a path
        "https://app.example.com/app",
        "app.example.com",  # no scheme
        "ftp://app.example.com",
        "https://App.Example.com",  # browsers send lower case: would never match
        "https://app.example.com:443",  # browsers omit the default port
        "http://app.example.com:80",
        "https://app.example.com:99999",
        "https://app.example.com?x=1",
        "https://user@app.example.com",
        "null",
        "*,https://app.example.com",
        "https://app.example.com,,http://127.0.0.1:3001",  # empty entry
        "https://app.example.com,",
    ],
)
def test_anything_but_exact_origins_is_a_clear_config_error(raw):
    with pytest.raises(ConfigError, match="ALLOWED_ORIGINS"):
        parse_allowed_origins(raw)


def test_settings_parse_it_at_cold_start():
    env = {"LOGTO_ENDPOINT": "https://abc.logto.app", "ALLOWED_ORIGINS": APP}
    assert load_settings(env).cors == CorsPolicy(origins=frozenset({APP}))
    assert not load_settings({"LOGTO_ENDPOINT": "https://abc.logto.app"}).cors.enabled
    with pytest.raises(ConfigError, match="ALLOWED_ORIGINS"):
        load_settings({**env, "ALLOWED_ORIGINS": "https://app.example.com/"})


def test_headers_for_allowed_and_other_origins():
    policy = parse_allowed_origins(f"{APP},{LOCAL}")
    allowed = policy.headers(LOCAL)
    assert allowed == {
        "Access-Control-Allow-Origin": LOCAL,
        "Vary": "Origin",
        "Access-Control-Expose-Headers": "Total-Number, Retry-After, Next-Cursor",
    }
    for other in ("https://evil.example.com", "https://app.example.com.evil.example", "null", None):
        headers = policy.headers(other)
        assert "Access-Control-Allow-Origin" not in headers and headers["Vary"] == "Origin"


def test_origin_header_in_any_case():
    assert request_origin({"headers": {"origin": APP}}) == APP
    assert request_origin({"headers": {"Origin": APP}}) == APP
    assert request_origin({"headers": None}) is None


def test_with_cors_merges_into_the_response_and_is_a_no_op_when_off():
    def handler(event, context):
        return {"statusCode": 200, "headers": {"Content-Type": "application/json", "Total-Number": "3"}, "body": ""}

    on = with_cors(parse_allowed_origins(APP))(handler)({"headers": {"Origin": APP}}, None)
    assert on["headers"]["Access-Control-Allow-Origin"] == APP and on["headers"]["Total-Number"] == "3"
    assert with_cors(CorsPolicy())(handler) is handler


@pytest.fixture
def cors_handlers(handlers, monkeypatch):
    monkeypatch.setenv("ALLOWED_ORIGINS", f"{APP},{LOCAL}")
    return handlers


def test_operation_success_and_errors_carry_cors_for_an_allowed_origin(cors_handlers):
    status, _, headers = call(cors_handlers, "list_members", headers={"origin": LOCAL})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == LOCAL and headers["Vary"] == "Origin"
    assert (
        headers["Access-Control-Expose-Headers"] == "Total-Number, Retry-After, Next-Cursor" and headers["Total-Number"]
    )
    # an operation error (defence in depth: another organization) is readable by the app too
    status, body, headers = call(
        cors_handlers, "list_members", headers={"Origin": LOCAL}, authorizer=org_context(org="someoneelse")
    )
    assert status == 403 and body["code"] == "other_organization"
    assert headers["Access-Control-Allow-Origin"] == LOCAL


def test_an_origin_not_on_the_list_gets_no_allow_origin_on_data_or_errors(cors_handlers):
    evil = {"Origin": "https://evil.example.com"}
    status, _, headers = call(cors_handlers, "list_members", headers=evil)
    assert status == 200 and "Access-Control-Allow-Origin" not in headers and headers["Vary"] == "Origin"
    status, _, headers = call(cors_handlers, "list_members", headers=evil, authorizer=org_context(org="x"))
    assert status == 403 and "Access-Control-Allow-Origin" not in headers


def test_health_answers_with_cors_too(cors_handlers):
    status, body, headers = call(cors_handlers, "health", headers={"Origin": APP})
    assert status == 200 and body == {"status": "ok"} and headers["Access-Control-Allow-Origin"] == APP


def test_no_cors_headers_without_allowed_origins(handlers):
    _, _, headers = call(handlers, "list_members", headers={"Origin": APP})
    assert not any(name.startswith("Access-Control-") for name in headers) and "Vary" not in headers
