"""`make logto-setup` (tenant/) against the stand-in in-process: plan, APPLY, CHECK, drift, dangerous configurations,
a run stopped half-way, long lists, bad input. The stand-in serves the Management API write routes as Logto 1.42 does
(local/logto/tenant_admin_routes.py), so what passes here is what a real tenant sees."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.logto.credentials import M2M_APP_ID, M2M_APP_SECRET
from local.logto.tenant_seed import flask_transport
from tenant.__main__ import run
from tenant.admin_api import Reply
from tests.standin.conftest import API_RESOURCE, MANAGEMENT

PERMISSIONS = [
    "org:create",
    "org:update",
    "org:delete",
    "member:read",
    "member:add",
    "member:remove",
    "role:assign",
    "member:invite",
    "audit:read",
]


class Counting:
    """The stand-in over its test client, counting write requests to the Management API."""

    def __init__(self, client: Any):
        self.send = flask_transport(client)
        self.writes: list[str] = []
        self.reads: list[str] = []

    def __call__(self, method: str, path: str, **kwargs: Any) -> Reply:
        if path.startswith("/api/"):
            (self.reads if method == "GET" else self.writes).append(f"{method} {path} {kwargs.get('params') or ''}")
        return self.send(method, path, **kwargs)


@pytest.fixture
def store(logto):
    return logto.client.application.config["store"]


@pytest.fixture
def fresh(logto, store):
    """A tenant as `fresh-tenant.sh` gives one: Logto's Management API resource, none of the service's entities (the
    stand-in's users and organizations stay; they are not the setup's business)."""
    store.db.execute("DELETE FROM org_roles")
    store.db.execute("DELETE FROM org_scopes")
    store.db.execute("DELETE FROM roles WHERE type = 'User'")
    store.db.execute("DELETE FROM resources WHERE id != 'management-api'")
    return logto


def setup(logto, transport=None, **env: str) -> tuple[int, list[str], Counting]:
    counting = transport or Counting(logto.client)
    base = {
        "LOGTO_ENDPOINT": "http://127.0.0.1:3999",
        "LOGTO_M2M_APP_ID": M2M_APP_ID,
        "LOGTO_M2M_APP_SECRET": M2M_APP_SECRET,
        "API_RESOURCE": API_RESOURCE,
        "LOGTO_MANAGEMENT_API_RESOURCE": MANAGEMENT,
    }
    out: list[str] = []
    code = run({**base, **env}, transport=counting, out=out)
    return code, out, counting


def org_roles(logto) -> dict[str, dict[str, Any]]:
    roles = logto.api("GET", "/organization-roles", query_string={"page_size": 100}).get_json()
    return {r["name"]: r for r in roles}


def test_a_fresh_tenant_is_planned_applied_checked_and_left_alone_the_second_time(fresh):
    code, out, counting = setup(fresh)
    assert code == 0 and counting.writes == []
    text = "\n".join(out)
    assert f'would create API resource "Organization API" ({API_RESOURCE})' in text
    for permission in PERMISSIONS:
        assert f"would create permission {permission} of {API_RESOURCE}" in text
        assert f"would create organization permission {permission}" in text
    assert "would create organization role admin (User) = CREATOR_ROLE" in text
    assert "would create organization role member (User)" in text
    assert "would create global role creator" in text
    assert "give global role creator API permissions: org:create" in text
    planned = [line for line in out if line.startswith("  plan:")]
    assert out[-1] == f"plan: {len(planned)} change(s), nothing written; run again with APPLY=1 to make them"

    code, out, counting = setup(fresh, APPLY="1")
    assert code == 0 and out[-1] == f"applied: {len(planned)} change(s)"
    assert len(counting.writes) == len(planned)  # one write per planned line, as the plan said

    roles = org_roles(fresh)
    admin = roles["admin"]
    assert {s["name"] for s in admin["scopes"]} == set(PERMISSIONS)
    # org:create never as an API permission of an organization role (a global token would carry it)
    assert {s["name"] for s in admin["resourceScopes"]} == set(PERMISSIONS) - {"org:create"}
    assert {s["name"] for s in roles["member"]["scopes"]} == {s["name"] for s in roles["member"]["resourceScopes"]}

    code, out, _ = setup(fresh, CHECK="1")
    assert code == 0 and out[-1] == "check: the tenant matches the description; nothing dangerous found", out
    code, out, counting = setup(fresh, APPLY="1")
    assert code == 0 and counting.writes == [] and out[-1].startswith("applied: nothing to change")


def test_the_stand_in_is_seeded_from_the_description_so_check_finds_nothing(logto):
    """`make local`'s tenant is what production gets: the same file through the same code."""
    code, out, counting = setup(logto, CHECK="1")
    assert code == 0, out
    assert counting.writes == []


def test_it_never_touches_what_it_does_not_manage(logto, store):
    before = {
        "automation": org_roles(logto)["automation"],
        "other": store.q(
            "SELECT s.name FROM scopes s JOIN resources r ON r.id = s.resource_id WHERE r.name = 'Other API'"
        ),
        "partner": store.q("SELECT * FROM roles WHERE name = 'partner'"),
    }
    logto.add_role("auditor", org_permissions=["member:read"], api_permissions=["member:read"])
    code, _, counting = setup(logto, APPLY="1", PERMISSION_OVERRIDES=json.dumps({"member:read": "read:members"}))
    assert code == 0 and counting.writes
    assert not [w for w in counting.writes if w.startswith(("DELETE /api/organization-roles/", "DELETE /api/roles/"))]
    after = org_roles(logto)
    assert after["automation"] == before["automation"] and "auditor" in after
    assert [dict(r) for r in store.q("SELECT * FROM roles WHERE name = 'partner'")] == [
        dict(r) for r in before["partner"]
    ]
    assert len(
        store.q("SELECT s.name FROM scopes s JOIN resources r ON r.id = s.resource_id WHERE r.name = 'Other API'")
    ) == len(before["other"])


def test_permission_overrides_name_the_tenant_s_permissions(fresh):
    overrides = json.dumps({"member:read": "read:members", "audit:read": "read:audit"})
    assert setup(fresh, APPLY="1", PERMISSION_OVERRIDES=overrides)[0] == 0
    member = org_roles(fresh)["member"]
    assert [s["name"] for s in member["scopes"]] == ["read:members"]
    assert "read:audit" in {s["name"] for s in org_roles(fresh)["admin"]["scopes"]}
    assert setup(fresh, CHECK="1", PERMISSION_OVERRIDES=overrides)[0] == 0
    code, out, _ = setup(fresh, CHECK="1")  # the service without the overrides: the tenant does not fit it
    assert code == 1 and any("create permission member:read" in line for line in out)


# -- CHECK: drift and dangerous configurations ---------------------------------------------------------------------------
def test_check_finds_a_permission_removed_from_a_role_and_apply_puts_it_back(logto):
    member = org_roles(logto)["member"]
    scope_id = next(s["id"] for s in member["resourceScopes"] if s["name"] == "member:read")
    assert logto.api("DELETE", f"/organization-roles/{member['id']}/resource-scopes/{scope_id}").status_code == 204
    code, out, _ = setup(logto, CHECK="1")
    assert code == 1
    assert "  differs: give organization role member API permissions: member:read" in out
    assert any(
        line.startswith(
            "  dangerous: organization role 'member' has member:read as organization permission but not as "
            "API permission"
        )
        for line in out
    ), out
    assert out[-1] == "check: 1 difference(s) from the description, 0 to fix by hand, 1 dangerous configuration(s)"
    assert setup(logto, APPLY="1")[0] == 0 and setup(logto, CHECK="1")[0] == 0


def test_check_finds_a_missing_role(logto, store):
    store.db.execute("DELETE FROM org_roles WHERE name = 'member'")
    code, out, _ = setup(logto, CHECK="1")
    assert code == 1 and "  differs: create organization role member (User)" in out


def test_check_finds_org_create_as_an_api_permission_of_any_organization_role(logto):
    logto.add_role("legacy-admin", org_permissions=["org:create"], api_permissions=["org:create"])
    code, out, _ = setup(logto, CHECK="1")
    assert code == 1
    assert any("organization role 'legacy-admin' carries org:create as an API permission" in line for line in out)
    # not the setup's role: APPLY leaves it (it never rewrites what it does not manage), and says so again
    code, out, counting = setup(logto, APPLY="1")
    assert code == 0 and counting.writes == [] and any("legacy-admin" in line for line in out)


def test_org_create_given_to_the_creator_role_as_an_api_permission_is_taken_away(logto):
    resource = next(r for r in logto.api("GET", "/resources").get_json() if r["indicator"] == API_RESOURCE)
    scopes = {s["name"]: s["id"] for s in logto.api("GET", f"/resources/{resource['id']}/scopes").get_json()}
    admin = org_roles(logto)["admin"]
    added = logto.api(
        "POST", f"/organization-roles/{admin['id']}/resource-scopes", json={"scopeIds": [scopes["org:create"]]}
    )
    assert added.status_code == 201
    code, out, _ = setup(logto, CHECK="1")
    assert code == 1 and "  differs: take API permission org:create from organization role admin" in out
    assert any(
        "'admin' carries org:create as an API permission" in line and "(APPLY removes it)" in line for line in out
    )
    assert setup(logto, APPLY="1")[0] == 0
    assert "org:create" not in {s["name"] for s in org_roles(logto)["admin"]["resourceScopes"]}
    assert setup(logto, CHECK="1")[0] == 0


def test_check_finds_a_renamed_creator_role(logto, store):
    store.db.execute("UPDATE org_roles SET name = 'owner' WHERE name = 'admin'")
    code, out, _ = setup(logto, CHECK="1")
    assert code == 1 and "  differs: create organization role admin (User) = CREATOR_ROLE" in out
    # or CREATOR_ROLE names a role the tenant does not have
    store.db.execute("UPDATE org_roles SET name = 'admin' WHERE name = 'owner'")
    code, out, _ = setup(logto, CHECK="1", CREATOR_ROLE="owner")
    assert code == 1 and "  differs: create organization role owner (User) = CREATOR_ROLE" in out


def test_check_finds_a_creator_role_users_cannot_hold(logto, store):
    store.db.execute("UPDATE org_roles SET type = 'MachineToMachine' WHERE name = 'admin'")
    code, out, _ = setup(logto, CHECK="1")
    assert code == 1
    assert any(line.startswith("  dangerous: CREATOR_ROLE 'admin' is a MachineToMachine role") for line in out)
    assert any(line.startswith("  by hand: organization role admin is MachineToMachine") for line in out)


# -- APPLY stopped half-way --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fault",
    [
        {"pathPrefix": "/api/organization-roles", "method": "POST", "status": 503, "times": 1},
        # carried out, then the answer is lost: the rerun finds the role and goes on
        {"pathPrefix": "/api/organization-roles", "method": "POST", "lost": "status", "times": 1},
        {"pathPrefix": "/api/roles", "method": "POST", "lost": "status", "times": 1},
    ],
    ids=["refused", "lost-role", "lost-global-role"],
)
def test_a_run_stopped_half_way_is_finished_by_the_next(fresh, fault):
    assert fresh.client.post("/__dev/faults", json=fault).status_code == 201
    code, out, counting = setup(fresh, APPLY="1")
    assert code == 1 and out[-1].startswith("error: stopped half-way (POST /api/") and "run APPLY=1 again" in out[-1]
    assert counting.writes  # some changes were made before it stopped
    code, out, _ = setup(fresh, APPLY="1")
    assert code == 0, out
    assert setup(fresh, CHECK="1")[0] == 0


# -- long lists ----------------------------------------------------------------------------------------------------------
def test_every_list_is_read_page_by_page(fresh, store):
    """More than 100 organization roles, organization permissions, API permissions and global roles, with the setup's
    own entities on later pages: were only the first page read, the second APPLY would create them again (422)."""
    x = store.db.execute
    for i in range(130):
        x("INSERT INTO org_roles VALUES (?,?,?,?)", (f"r{i}", f"aaa-role-{i:03}", None, "User"))
        x("INSERT INTO org_scopes VALUES (?,?,?)", (f"s{i}", f"aaa:scope-{i:03}", None))
        x("INSERT INTO roles VALUES (?,?,?,?,?)", (f"g{i}", f"aaa-global-{i:03}", "x", "User", 0))
    assert setup(fresh, APPLY="1")[0] == 0
    for i in range(110):  # the API resource's own list grows past a page too
        x(
            "INSERT INTO scopes SELECT ?, id, ?, NULL, 0 FROM resources WHERE indicator = ?",
            (f"p{i}", f"aaa:{i:03}", API_RESOURCE),
        )
    code, out, counting = setup(fresh, APPLY="1")
    assert code == 0 and counting.writes == [], out
    pages = [r for r in counting.reads if "'page': 2" in r]
    assert {p.split()[1] for p in pages} >= {"/api/organization-roles", "/api/organization-scopes", "/api/roles"}
    assert all("'page_size': 100" in r for r in counting.reads)
    assert setup(fresh, CHECK="1")[0] == 0


# -- bad input: one line, exit 2, nothing written, no secret -----------------------------------------------------------
def no_access(counting: Counting):
    """What Logto gives an app without the "Logto Management API access" role: a token without `all`."""

    def send(method: str, path: str, **kwargs: Any) -> Reply:
        reply = counting(method, path, **kwargs)
        if path == "/oidc/token" and isinstance(reply.body, dict):
            return Reply(reply.status, reply.headers, {**reply.body, "scope": ""})
        return reply

    return send


def not_logto(method: str, path: str, **kwargs: Any) -> Reply:
    return Reply(404, {"Content-Type": "text/html"}, None)


@pytest.mark.parametrize(
    ("env", "transport", "expected"),
    [
        ({"LOGTO_M2M_APP_SECRET": "wrong-secret-123"}, None, "error: Logto refused the app's credentials"),
        ({"LOGTO_M2M_APP_ID": "nobody"}, None, "error: Logto refused the app's credentials"),
        ({}, "no_access", "error: the app has no Management API access"),
        ({}, "not_logto", "error: no Logto token endpoint there (HTTP 404 from /oidc/token)"),
        ({"LOGTO_MANAGEMENT_API_RESOURCE": "https://x.example/api"}, None, "error: Logto does not know the Management"),
        ({"LOGTO_ENDPOINT": "ftp://logto"}, None, "error: LOGTO_ENDPOINT must be an absolute http(s) URL"),
        ({"API_RESOURCE": ""}, None, "error: API_RESOURCE is not set"),
        ({"PERMISSION_OVERRIDES": "{"}, None, "error: PERMISSION_OVERRIDES must be a JSON object"),
        ({"APPLY": "1", "CHECK": "1"}, None, "error: APPLY=1 and CHECK=1 together"),
        ({"APPLY": "please"}, None, "error: APPLY must be 1 or empty"),
    ],
    ids=[
        "secret",
        "app-id",
        "no-management-access",
        "not-logto",
        "management-resource",
        "endpoint",
        "api-resource",
        "overrides",
        "apply-and-check",
        "apply-value",
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(fresh, env, transport, expected):
    counting = Counting(fresh.client)
    chosen = {"no_access": no_access(counting), "not_logto": not_logto, None: counting}[transport]
    code, out, _ = setup(fresh, chosen, **{"APPLY": "1", **env})
    assert code == 2 and len(out) == 1 and out[0].startswith(expected), out
    assert counting.writes == []
    assert M2M_APP_SECRET not in out[0] and "wrong-secret-123" not in out[0]


def test_an_unreachable_endpoint_is_one_line(fresh, monkeypatch):
    out: list[str] = []
    env = {
        "LOGTO_ENDPOINT": "http://127.0.0.1:9",
        "LOGTO_M2M_APP_ID": "a",
        "LOGTO_M2M_APP_SECRET": "s3cr3t-value",
        "API_RESOURCE": API_RESOURCE,
    }
    assert run(env, out=out) == 2
    assert out == ["error: cannot reach Logto at http://127.0.0.1:9 (ConnectionError)"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("apiResource: [", "not valid YAML at line 1"),
        ("- a list", "(top): Input should be a valid dictionary"),
        (
            "apiResource: {name: A, permissions: {org:create: c}}\norganizationRoles: {admin: {creator: true, permissions: all}}",
            "apiResource.permissions: audit:read is required by the service's routes",  # the first missing
        ),
        (
            "apiResource: {name: A, permissions: {org:create: c, 'bad name': x}}\norganizationRoles: {}",
            "apiResource.permissions: Value error, permission names need 1-128 characters and no spaces",
        ),
        (
            "apiResource: {name: A, permissions: {x: y}}\norganizationRoles: {a: {permissions: all, colour: red}}",
            "organizationRoles.a.colour: Extra inputs are not permitted",
        ),
    ],
    ids=["yaml", "shape", "route-permission", "name", "unknown-key"],
)
def test_a_description_that_does_not_parse_is_one_line(fresh, tmp_path, text, expected):
    path = tmp_path / "description.yaml"
    path.write_text(text)
    code, out, counting = setup(fresh, APPLY="1", DESCRIPTION=str(path))
    assert code == 2 and len(out) == 1 and out[0].startswith(f"error: {path}: ") and expected in out[0], out
    assert counting.writes == [] and counting.reads == []


def test_a_description_rule_across_entries_is_one_line(fresh, tmp_path):
    from tenant.description import DESCRIPTION

    text = DESCRIPTION.read_text().replace("permissions: [member:read]", "permissions: [member:read, billing:read]")
    path = tmp_path / "description.yaml"
    path.write_text(text)
    code, out, counting = setup(fresh, APPLY="1", DESCRIPTION=str(path))
    assert code == 2 and out == [
        f"error: {path}: organizationRoles.member.permissions: 'billing:read' is not a permission of apiResource"
    ]
    assert counting.writes == []


# -- without LOGTO_ENDPOINT: the running `make local` ------------------------------------------------------------------
def test_without_an_endpoint_it_sets_up_the_running_make_local(logto, tmp_path):
    (tmp_path / "run.json").write_text(
        json.dumps(
            {
                "logto": "http://127.0.0.1:3998",
                "external": False,
                "functionEnv": {"API_RESOURCE": API_RESOURCE, "CREATOR_ROLE": "admin", "PERMISSION_OVERRIDES": ""},
            }
        )
    )
    counting = Counting(logto.client)
    out: list[str] = []
    assert run({"LOCAL_DATA": str(tmp_path), "CHECK": "1"}, transport=counting, out=out) == 0, out
    assert out[0] == f"Logto http://127.0.0.1:3998, API_RESOURCE {API_RESOURCE}, CREATOR_ROLE admin"

    out = []
    (tmp_path / "run.json").write_text(json.dumps({"logto": "http://127.0.0.1:3998", "external": True}))
    assert run({"LOCAL_DATA": str(tmp_path)}, transport=counting, out=out) == 2 and len(out) == 1
    out = []
    assert run({"LOCAL_DATA": str(tmp_path / "none")}, transport=counting, out=out) == 2
    assert out[0].startswith("error: LOGTO_ENDPOINT is not set and no `make local` runs on")


# -- optional applications: the SPA and the service's M2M app with its secret ------------------------------------------
SPA = {"SPA_REDIRECT_URIS": "https://app.example.com/callback", "SPA_CORS_ORIGINS": "https://app.example.com"}


def test_an_spa_is_made_from_variables_and_its_react_config_printed(logto):
    code, out, counting = setup(logto, **SPA)
    assert code == 0 and counting.writes == []
    assert (
        "  plan: would create SPA application 'Organization console' (redirect URIs https://app.example.com/callback)"
        in out
    )
    assert '    appId: /* made by APPLY=1 */ "",' in out
    code, out, counting = setup(logto, APPLY="1", **SPA)
    assert code == 0 and len(counting.writes) == 1
    spas = logto.api("GET", "/applications", query_string={"types": "SPA"}).get_json()
    spa = next(a for a in spas if a["name"] == "Organization console")  # beside the seed's console app
    assert spa["oidcClientMetadata"]["redirectUris"] == ["https://app.example.com/callback"]
    assert spa["customClientMetadata"]["corsAllowedOrigins"] == ["https://app.example.com"]
    block = out[out.index("@logto/react config (import { UserScope } from '@logto/react'):") :]
    assert f'    appId: "{spa["id"]}",' in block and f'    resources: ["{API_RESOURCE}"],' in block
    assert '    scopes: [UserScope.Organizations, "org:create", "org:update",' in block[5]
    assert setup(logto, CHECK="1", **SPA)[0] == 0
    # a new URI is added; the ones there stay
    code, out, counting = setup(logto, APPLY="1", **{**SPA, "SPA_REDIRECT_URIS": "https://new.example.com/cb"})
    assert code == 0 and [w.split()[0] for w in counting.writes] == ["PATCH"]
    spas = logto.api("GET", "/applications", query_string={"types": "SPA"}).get_json()
    spa = next(a for a in spas if a["name"] == "Organization console")
    assert spa["oidcClientMetadata"]["redirectUris"] == [
        "https://app.example.com/callback",
        "https://new.example.com/cb",
    ]
    assert setup(logto, APPLY="1", **SPA)[2].writes == []


@pytest.fixture
def secrets():
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("secretsmanager", region_name="eu-west-1")
        client.create_secret(Name="orgapi/m2m")  # as the stack creates it: no value yet
        yield client


def test_secret_id_gets_the_service_app_s_credentials_without_printing_them(logto, secrets):
    out: list[str] = []
    env = {
        "LOGTO_ENDPOINT": "http://127.0.0.1:3999",
        "LOGTO_M2M_APP_ID": M2M_APP_ID,
        "LOGTO_M2M_APP_SECRET": M2M_APP_SECRET,
        "API_RESOURCE": API_RESOURCE,
        "SECRET_ID": "orgapi/m2m",
    }
    counting = Counting(logto.client)
    assert run({**env, "APPLY": "1"}, transport=counting, secrets_client=secrets, out=out) == 0, out
    assert "  changed: create M2M application 'Organization API service' for the service" in out
    assert (
        "  changed: write the credentials of M2M application 'Organization API service' into secret orgapi/m2m" in out
    )
    stored = json.loads(secrets.get_secret_value(SecretId="orgapi/m2m")["SecretString"])
    app = next(a for a in logto.api("GET", "/applications").get_json() if a["name"] == "Organization API service")
    value = logto.api("GET", f"/applications/{app['id']}/secrets").get_json()[0]["value"]
    assert stored == {"appId": app["id"], "appSecret": value}
    assert value not in "\n".join(out)
    roles = logto.api("GET", f"/applications/{app['id']}/roles").get_json()
    assert [r["name"] for r in roles] == ["Logto Management API access"]
    # nothing again: the secret already holds them
    counting = Counting(logto.client)
    out = []
    assert run({**env, "APPLY": "1"}, transport=counting, secrets_client=secrets, out=out) == 0
    assert counting.writes == [] and len(secrets.list_secret_version_ids(SecretId="orgapi/m2m")["Versions"]) == 1
    assert run({**env, "CHECK": "1"}, transport=counting, secrets_client=secrets, out=out) == 0


def test_a_secret_that_does_not_exist_is_one_line_and_nothing_written(logto, secrets, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    code, out, counting = setup(logto, APPLY="1", SECRET_ID="nope/m2m")
    assert code == 2 and out == ["error: SECRET_ID: no secret nope/m2m (the stack's M2MSecretArn output names it)"]
    assert counting.writes == []


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"SPA_REDIRECT_URIS": "app.example.com/cb"},
            "error: SPA_REDIRECT_URIS: 'app.example.com/cb' is not an absolute",
        ),
        (
            {**SPA, "SPA_CORS_ORIGINS": "https://a.example/path"},
            "error: SPA_CORS_ORIGINS: 'https://a.example/path' is not an origin",
        ),
        (
            {"SPA_CORS_ORIGINS": "https://a.example"},
            "error: SPA_POST_SIGN_OUT_URIS and SPA_CORS_ORIGINS need SPA_REDIRECT_URIS",
        ),
    ],
    ids=["redirect", "origin", "no-redirect"],
)
def test_bad_application_variables_are_one_line(logto, env, expected):
    code, out, counting = setup(logto, APPLY="1", **env)
    assert code == 2 and len(out) == 1 and out[0].startswith(expected), out
    assert counting.writes == []


def test_the_stand_in_follows_creator_role_and_permission_overrides(tmp_path, monkeypatch):
    """`make local CREATOR_ROLE=owner PERMISSION_OVERRIDES=...` seeds the names its functions use: CHECK with the same
    configuration finds nothing, and alice is `owner` of the demo organization."""
    from local.logto.server import create_app

    overrides = json.dumps({"member:read": "read:members"})
    monkeypatch.setenv("CREATOR_ROLE", "owner")
    monkeypatch.setenv("PERMISSION_OVERRIDES", overrides)
    app = create_app(
        tmp_path, issuer_base="http://logto.test", management_resource=MANAGEMENT, api_resource=API_RESOURCE
    )
    client = app.test_client()
    counting = Counting(client)
    out: list[str] = []
    env = {
        "LOGTO_ENDPOINT": "http://127.0.0.1:3999",
        "LOGTO_M2M_APP_ID": M2M_APP_ID,
        "LOGTO_M2M_APP_SECRET": M2M_APP_SECRET,
        "API_RESOURCE": API_RESOURCE,
        "LOGTO_MANAGEMENT_API_RESOURCE": MANAGEMENT,
        "CREATOR_ROLE": "owner",
        "PERMISSION_OVERRIDES": overrides,
        "CHECK": "1",
    }
    assert run(env, transport=counting, out=out) == 0, out
    token = client.post(
        "/__dev/tokens", json={"kind": "organization", "userId": "bob", "organizationId": "demo0org0001"}
    )
    assert token.get_json()["scope"] == "read:members"
    store = app.config["store"]
    assert [
        r["name"]
        for r in store.q(
            "SELECT r.name FROM member_roles m JOIN org_roles r ON r.id = m.role_id WHERE m.user_id = 'alice'"
        )
    ] == ["owner"]


def test_a_reset_seeds_from_the_description_again_without_counting_its_own_requests(logto, store):
    """POST /__dev/reset (make invoke starts each event from it) runs the same seed; its in-process Management API
    requests are neither counted in /__dev/stats nor given injected faults."""
    store.db.execute("DELETE FROM org_roles WHERE name = 'member'")
    before = logto.client.get("/__dev/stats").get_json()["management_requests"]
    assert (
        logto.client.post("/__dev/faults", json={"pathPrefix": "/api/", "status": 503, "times": 1}).status_code == 201
    )
    assert logto.client.post("/__dev/reset").status_code == 204
    assert logto.client.get("/__dev/stats").get_json()["management_requests"] == before
    logto.client.delete("/__dev/faults")
    # and the store lock is free again for the server's other threads (a request nested in the reset must not
    # release, or keep, the reset's own hold on it)
    import threading

    free: list[bool] = []
    other = threading.Thread(
        target=lambda: free.append(store.lock.acquire(timeout=2) and (store.lock.release() or True))
    )
    other.start()
    other.join()
    assert free == [True]
    code, out, _ = setup(logto, CHECK="1")
    assert code == 0, out


def test_check_finds_a_default_role_that_lets_everyone_create_organizations(logto, store):
    """role.ts: a role with `isDefault` is given to every new user."""
    store.db.execute("UPDATE roles SET is_default = 1 WHERE name IN ('creator', 'partner')")
    code, out, _ = setup(logto, CHECK="1")
    assert code == 1
    dangers = [line for line in out if line.startswith("  dangerous:")]
    # partner's org:create is another API's: not ours
    assert dangers == [
        "  dangerous: global role 'creator' is a default role carrying org:create: every user who signs up can create "
        "organizations"
    ]
