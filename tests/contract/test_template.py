"""template.yaml, the route table in code, the function folders and events/ must agree one-to-one."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from orgapi.contract.routes import ROUTES, ROUTES_BY_NAME
from orgapi.tokens.verify import _BEARER

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_VARIABLES = {
    "LOGTO_ENDPOINT",
    "LOGTO_ISSUER",
    "LOGTO_MANAGEMENT_API_RESOURCE",
    "API_RESOURCE",
    "M2M_SECRET_ID",
    "CREATOR_ROLE",
    "LIVE_PERMISSIONS",
    "INVITATION_LINK",
    "AUDIT_RETENTION_DAYS",
    "EVENT_BUS_NAME",
    "MAX_ORGS_CREATED_PER_USER_PER_DAY",
    "MAX_MEMBERS_PER_ORG",
    "MAX_PENDING_INVITATIONS_PER_ORG",
    "MAX_INVITATION_EMAILS_PER_ORG_PER_DAY",
    "MAX_INVITATION_EMAILS_PER_INVITEE_PER_DAY",
}


class CfnLoader(yaml.SafeLoader):
    pass


def _any_tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {f"Fn::{suffix}" if suffix != "Ref" else "Ref": value}


CfnLoader.add_multi_constructor("!", _any_tag)
TEMPLATE = yaml.load((ROOT / "template.yaml").read_text(), Loader=CfnLoader)
RESOURCES = TEMPLATE["Resources"]
FUNCTIONS = {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}


ROUTE_OF_FUNCTION = {
    name: ROUTES_BY_NAME[f["Properties"]["CodeUri"].split("/")[1]]
    for name, f in FUNCTIONS.items()
    if f["Properties"].get("CodeUri", "").split("/")[1:2] and f["Properties"]["CodeUri"].split("/")[1] in ROUTES_BY_NAME
}


def api_events():
    for name, function in FUNCTIONS.items():
        for event in (function["Properties"].get("Events") or {}).values():
            if event["Type"] == "Api":
                yield name, function, event["Properties"]


def test_every_route_has_exactly_one_function_and_nothing_else_is_exposed():
    exposed = {(e["Method"].upper(), e["Path"]): (name, fn) for name, fn, e in api_events()}
    expected = {(r.method, r.path) for r in ROUTES} | {("GET", "/health")}
    assert set(exposed) == expected
    for route in (*ROUTES, ROUTES_BY_NAME["health"]):
        _, function = exposed[(route.method, route.path)]
        assert function["Properties"]["CodeUri"] == f"functions/{route.name}/"


def test_only_health_skips_the_authorizer():
    for _, _, event in api_events():
        authorizer = (event.get("Auth") or {}).get("Authorizer")
        assert (authorizer == "NONE") == (event["Path"] == "/health")
    auth = RESOURCES["Api"]["Properties"]["Auth"]
    assert auth["DefaultAuthorizer"] == "LogtoTokenAuthorizer"
    identity = auth["Authorizers"]["LogtoTokenAuthorizer"]["Identity"]
    assert identity["Header"] == "Authorization"
    assert identity["ReauthorizeEvery"] == {"Ref": "ReauthorizeEvery"}
    assert TEMPLATE["Parameters"]["ReauthorizeEvery"]["Default"] == 300


def test_validation_expression_matches_the_authorizers_own_rule():
    expression = RESOURCES["Api"]["Properties"]["Auth"]["Authorizers"]["LogtoTokenAuthorizer"]["Identity"][
        "ValidationExpression"
    ]
    samples = [
        "Bearer a.b.c",
        "Bearer aa-_.b_.c-",
        "Bearer a.b",
        "bearer a.b.c",
        "Bearer a.b.c.d",
        "Bearer a b.c",
        "Bearer a.b.c ",
        "Basic a.b.c",
        "Bearer .b.c",
    ]
    for sample in samples:
        assert bool(re.fullmatch(expression.strip("^$"), sample)) == bool(_BEARER.match(sample)), sample


def test_gateway_errors_are_json_in_the_contract_shape():
    responses = RESOURCES["Api"]["Properties"]["GatewayResponses"]
    for kind in ("UNAUTHORIZED", "ACCESS_DENIED", "DEFAULT_4XX", "DEFAULT_5XX", "AUTHORIZER_FAILURE", "THROTTLED"):
        template = responses[kind]["ResponseTemplates"]["application/json"]
        rendered = json.loads(
            template.replace("$context.error.messageString", '"x"').replace("$context.error.responseType", "X")
        )
        assert set(rendered) == {"message", "code"}
    assert responses["UNAUTHORIZED"]["StatusCode"] == 401 and responses["ACCESS_DENIED"]["StatusCode"] == 403


def test_runtime_layer_and_configuration():
    globals_ = TEMPLATE["Globals"]["Function"]
    assert globals_["Runtime"] == "python3.13" and globals_["Tracing"] == "Active"
    # The audit trail's names go only to functions whose role may write it (make local refuses a function whose
    # environment names a resource its role grants nothing on); every other contract variable is global.
    per_function = {"AUDIT_TABLE", "EVENT_BUS_NAME", "AUDIT_RETENTION_DAYS"}
    assert set(globals_["Environment"]["Variables"]) >= CONTRACT_VARIABLES - per_function
    for name in ("CreateOrganizationFunction", "RunCleanupsFunction"):
        assert set(FUNCTIONS[name]["Properties"]["Environment"]["Variables"]) >= per_function, name
    layer = RESOURCES["SharedLayer"]
    # layers/common/Makefile builds it as python3.13 would, for the same runtime and architecture, plus the layer's
    # bytecode (issue 22: Lambda mounts layers read-only, so code shipped as source compiles at every cold start).
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Properties"]["CompatibleRuntimes"] == [globals_["Runtime"]]
    makefile = (ROOT / layer["Properties"]["ContentUri"] / "Makefile").read_text()
    assert "build-SharedLayer:" in makefile and f"PYTHON ?= {globals_['Runtime']}" in makefile
    assert f"--python-version {globals_['Runtime'].removeprefix('python')}" in makefile
    assert f"LAMBDA_ARCH ?= {globals_['Architectures'][0]}" in makefile
    assert "--invalidation-mode unchecked-hash" in makefile
    assert layer["Properties"]["CompatibleArchitectures"] == globals_["Architectures"]


def test_least_privilege():
    for name, function in FUNCTIONS.items():
        policies = json.dumps(_policies(name))
        if name in ("AuthorizerFunction", "HealthFunction"):
            assert policies == "[]", name  # the authorizer never sees the M2M credentials
            continue
        assert "AWSSecretsManagerGetSecretValuePolicy" in policies
        route = ROUTE_OF_FUNCTION.get(name)
        uses_table = route is not None and route.uses_table
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        assert ("IDEMPOTENCY_TABLE" in variables) == uses_table, name
        tables = set(re.findall(r'"(?:TableName": \{"Ref|Resource": \{"Fn::GetAtt)": "(\w+?)(?:\.Arn)?"', policies))
        cleanups = {
            "CreateOrganizationFunction",
            "AddMembersFunction",  # records members it could not remove again
            "RunCleanupsFunction",
        }
        expected = ({"IdempotencyTable"} if uses_table else set()) | ({"CleanupTable"} if name in cleanups else set())
        if name == "RunCleanupsFunction" or (
            route is not None and (route.method != "GET" or route.name == "list_audit")
        ):
            expected.add("AuditTable")  # writes its entries (reads them: list_audit; publishes late ones: clean-up)
        assert tables == expected, name  # only what the route table (and the clean-up design) says needs it
        assert ("CLEANUP_TABLE" in variables) == (name in cleanups), name


def test_pending_cleanups_are_run_on_a_schedule():
    function = FUNCTIONS["RunCleanupsFunction"]["Properties"]
    assert function["CodeUri"] == "functions/run_cleanups/"
    (schedule,) = function["Events"].values()
    assert schedule["Type"] == "Schedule" and schedule["Properties"]["Schedule"].startswith("rate(")
    assert (ROOT / "functions" / "run_cleanups" / "app.py").is_file()
    assert json.loads((ROOT / "events" / "run_cleanups.json").read_text())["detail-type"] == "Scheduled Event"


def _alarms():
    return {name: r["Properties"] for name, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def _alarm_text(props) -> str:
    return json.dumps(props)


def test_alarms_an_operator_needs():
    alarms = _alarms()
    texts = {name: _alarm_text(props) for name, props in alarms.items()}
    assert '"AuthorizerFunction"' in texts["AuthorizerErrorsAlarm"]
    assert "CleanupsOverdue" in texts["PendingCleanupsAlarm"]
    operations = [
        (name, fn)
        for name, fn in FUNCTIONS.items()
        if name not in ("AuthorizerFunction", "HealthFunction", "RunCleanupsFunction")
    ]
    for name, function in operations:
        service = function["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        rate = [t for t in texts.values() if "ServerError" in t and f'"{name}"' in t and f'"{service}"' in t]
        latency = [t for t in texts.values() if "LogtoLatency" in t and '"p99"' in t and f'"{service}"' in t]
        assert len(rate) == 1 and len(latency) == 1, name
    topic = {"Fn::If": ["NotifyAlarms", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    assert all(props["AlarmActions"] == topic for props in alarms.values())
    assert TEMPLATE["Parameters"]["AlarmTopicArn"]["Default"] == ""


def test_every_function_has_a_log_group_with_retention():
    groups = [r["Properties"] for r in RESOURCES.values() if r["Type"] == "AWS::Logs::LogGroup"]
    named = {json.dumps(g.get("LogGroupName")) for g in groups}
    for name in FUNCTIONS:
        assert any(name in n for n in named), name
    assert all(g["RetentionInDays"] == {"Ref": "LogRetentionInDays"} for g in groups)


@pytest.mark.parametrize("route", [*ROUTES, ROUTES_BY_NAME["health"]], ids=lambda r: r.name)
def test_function_folder_and_sample_event_exist(route):
    assert (ROOT / "functions" / route.name / "app.py").is_file()
    event = json.loads((ROOT / "events" / f"{route.name}.json").read_text())
    assert event["httpMethod"] == route.method and event["resource"] == route.path


def test_samconfig_has_the_three_environments():
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert {"default", "dev", "prod"} <= set(config)
    for env in ("default", "dev", "prod"):
        assert "parameter_overrides" in config[env]["deploy"]["parameters"]


def test_invitation_link_parameter_accepts_what_the_functions_accept():
    from orgapi.base.config import load_settings
    from orgapi.base.errors import ConfigError

    parameter = TEMPLATE["Parameters"]["InvitationLink"]
    assert parameter["Default"] == "" and TEMPLATE["Globals"]["Function"]["Environment"]["Variables"][
        "INVITATION_LINK"
    ] == {"Ref": "InvitationLink"}
    pattern = re.compile(parameter["AllowedPattern"])
    for link in ("", "https://app.example.com/invite/{invitationId}", "https://a.example/x?i={invitationId}&y=1"):
        assert pattern.fullmatch(link), link
    for link in ("https://app.example.com/invite", "https://{invitationId}/", "https://a/{invitationId}/{x}"):
        assert not pattern.fullmatch(link), link
        with pytest.raises(ConfigError):
            load_settings({"LOGTO_ENDPOINT": "https://x", "INVITATION_LINK": link})


# -- CORS (contract "Browsers (CORS)") ---------------------------------------------------------------------------------
def _evaluate(node, origins: str):
    """Resolve the intrinsics the CORS parts use, for AllowedOrigins = `origins`, as CloudFormation would."""
    conditions = TEMPLATE["Conditions"]

    def ev(n):
        if isinstance(n, list):
            return [v for v in (ev(x) for x in n) if v is not _NO_VALUE]
        if not isinstance(n, dict):
            return n
        if set(n) == {"Ref"}:
            return {"AllowedOrigins": origins, "AWS::NoValue": _NO_VALUE}.get(n["Ref"], n)
        if set(n) == {"Fn::If"}:
            name, yes, no = n["Fn::If"]
            return ev(yes if ev(conditions[name]) else no)
        if set(n) == {"Fn::Not"}:
            return not ev(n["Fn::Not"][0])
        if set(n) == {"Fn::Equals"}:
            a, b = ev(n["Fn::Equals"])
            return a == b
        if set(n) == {"Fn::Select"}:
            index, items = ev(n["Fn::Select"])
            return items[index]
        if set(n) == {"Fn::Split"}:
            sep, value = ev(n["Fn::Split"])
            return value.split(sep)
        if set(n) == {"Fn::Sub"}:
            return n["Fn::Sub"].replace("${AllowedOrigins}", origins)
        if set(n) == {"Fn::Condition"}:
            return ev(conditions[n["Fn::Condition"]])
        return {k: v for k, v in ((k, ev(v)) for k, v in n.items()) if v is not _NO_VALUE}

    return ev(node)


_NO_VALUE = object()
API = RESOURCES["Api"]["Properties"]


def test_allowed_origins_feeds_the_functions_and_is_off_by_default():
    assert TEMPLATE["Parameters"]["AllowedOrigins"]["Default"] == ""
    assert TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["ALLOWED_ORIGINS"] == {"Ref": "AllowedOrigins"}
    pattern = TEMPLATE["Parameters"]["AllowedOrigins"]["AllowedPattern"]
    for ok in ("", "*", "https://app.example.com", "https://a.example.com, http://127.0.0.1:3001"):
        assert re.fullmatch(pattern, ok), ok
    for bad in ("https://app.example.com/", "app.example.com", "*,https://a.example.com", "https://a.example.com,"):
        assert not re.fullmatch(pattern, bad), bad


def test_preflights_skip_the_authorizer_and_merge_with_the_function_routes():
    assert API["Auth"]["AddDefaultAuthorizerToCorsPreflight"] is False
    assert API["MergeDefinitions"] is True  # else SAM drops every function route from an inline DefinitionBody
    assert API["AlwaysDeploy"] is True  # else a changed AllowedOrigins never reaches the stage


@pytest.mark.parametrize("origins", ["https://app.example.com", "https://a.example.com,http://127.0.0.1:3001", "*"])
def test_every_route_path_has_a_preflight_when_cors_is_on(origins):
    paths = _evaluate(API["DefinitionBody"]["paths"], origins)
    route_paths = {event["Path"] for _, _, event in api_events()}
    assert set(paths) == route_paths  # every route path, and nothing else
    for path in route_paths:
        options = paths[path]["options"]
        assert "security" not in options  # answered by API Gateway itself: no authorizer
        integration = options["x-amazon-apigateway-integration"]
        assert integration["type"] == "mock"
        assert json.loads(integration["requestTemplates"]["application/json"]) == {"statusCode": 204}
        response = integration["responses"]["default"]
        assert response["statusCode"] == "204"
        parameters = response["responseParameters"]
        assert parameters["method.response.header.Access-Control-Allow-Headers"] == (
            "'Authorization,Content-Type,Idempotency-Key'"
        )
        methods = parameters["method.response.header.Access-Control-Allow-Methods"].strip("'").split(",")
        assert {e["Method"].upper() for _, _, e in api_events() if e["Path"] == path} <= set(methods)
        assert "method.response.header.Access-Control-Max-Age" in parameters
        template = response["responseTemplates"]["application/json"]
        assert f'#set($allowed = "{origins}")' in template
        assert "$context.responseOverride.header.Access-Control-Allow-Origin" in template


def test_no_preflight_when_allowed_origins_is_empty():
    paths = _evaluate(API["DefinitionBody"]["paths"], "")
    assert all("options" not in item for item in paths.values())


GATEWAY_KINDS = (
    "UNAUTHORIZED",
    "ACCESS_DENIED",
    "MISSING_AUTHENTICATION_TOKEN",
    "AUTHORIZER_FAILURE",
    "AUTHORIZER_CONFIGURATION_ERROR",
    "THROTTLED",
    "INTEGRATION_TIMEOUT",
    "DEFAULT_4XX",
    "DEFAULT_5XX",
)


@pytest.mark.parametrize(
    ("origins", "allow_origin"),
    [
        ("https://app.example.com", "'https://app.example.com'"),  # one origin: static
        ("*", "'*'"),
        ("https://a.example.com,http://127.0.0.1:3001", "method.request.header.Origin"),  # several: echo
        ("", None),  # off
    ],
)
def test_gateway_responses_carry_cors_headers(origins, allow_origin):
    responses = _evaluate(API["GatewayResponses"], origins)
    assert set(GATEWAY_KINDS) <= set(responses)
    for kind in GATEWAY_KINDS:
        headers = (responses[kind].get("ResponseParameters") or {}).get("Headers") or {}
        if allow_origin is None:
            assert headers == {}, kind
        else:
            assert headers == {
                "Access-Control-Allow-Origin": allow_origin,
                "Vary": "'Origin'",
                "Access-Control-Expose-Headers": "'Total-Number, Retry-After, Next-Cursor'",
            }, kind


def _policies(name):
    """The function's own Policies, and the policy documents of managed policies attached to its role (SAM names
    it <Function>Role)."""
    attached = [
        resource["Properties"]["PolicyDocument"]
        for resource in RESOURCES.values()
        if resource.get("Type") == "AWS::IAM::ManagedPolicy"
        and {"Ref": f"{name}Role"} in resource["Properties"].get("Roles", [])
    ]
    return FUNCTIONS[name]["Properties"].get("Policies", []) + attached


def _statements(name):
    return [
        statement
        for policy in _policies(name)
        if isinstance(policy, dict) and "Statement" in policy
        for statement in policy["Statement"]
    ]


def _actions(statement):
    actions = statement["Action"]
    return set(actions if isinstance(actions, list) else [actions])


BUS_ARN = {
    "Fn::If": [
        "CreateEventBus",
        {"Fn::GetAtt": "EventBus.Arn"},
        {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}"},
    ]
}


def test_audit_table_bus_and_their_grants():
    table = RESOURCES["AuditTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["organizationId", "sk"]  # newest first per org
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "unpublished"
    assert RESOURCES["EventBus"]["Condition"] == "CreateEventBus"
    assert TEMPLATE["Conditions"]["CreateEventBus"] == {"Fn::Equals": [{"Ref": "EventBusName"}, ""]}
    assert TEMPLATE["Parameters"]["AuditRetentionDays"]["Default"] == 90
    bus = {"Fn::If": ["CreateEventBus", {"Ref": "EventBus"}, {"Ref": "EventBusName"}]}
    for name, function in FUNCTIONS.items():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        statements = _statements(name)
        events = [s for s in statements if any(a.startswith("events:") for a in _actions(s))]
        audit = [s for s in statements if "AuditTable" in json.dumps(s["Resource"])]
        route = ROUTE_OF_FUNCTION.get(name)
        writes = route is not None and route.method != "GET"
        if writes or name == "RunCleanupsFunction":
            assert variables["AUDIT_TABLE"] == {"Ref": "AuditTable"} and variables["EVENT_BUS_NAME"] == bus, name
        if writes:
            assert [(_actions(s), s["Resource"]) for s in events] == [({"events:PutEvents"}, BUS_ARN)], name
            assert [_actions(s) for s in audit] == [{"dynamodb:PutItem", "dynamodb:UpdateItem"}], name
        elif name == "RunCleanupsFunction":
            assert [(_actions(s), s["Resource"]) for s in events] == [({"events:PutEvents"}, BUS_ARN)]
            assert sorted(map(sorted, map(_actions, audit))) == [["dynamodb:Query"], ["dynamodb:UpdateItem"]]
        elif name == "ListAuditFunction":
            assert events == [] and [_actions(s) for s in audit] == [{"dynamodb:Query"}]
            assert "EVENT_BUS_NAME" not in variables  # it reads the trail, and publishes nothing
        else:
            assert events == [] and audit == [], name  # reads never touch the trail or the bus
            assert "AUDIT_TABLE" not in variables and "EVENT_BUS_NAME" not in variables, name


def test_unpublished_events_raise_an_alarm():
    alarm = _alarms()["UnpublishedEventsAlarm"]
    assert alarm["MetricName"] == "EventsUnpublished" and alarm["Namespace"] == "LogtoOrgApi"
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "run_cleanups"}]


def test_limit_parameters_carry_the_contract_s_defaults_to_every_function():
    from orgapi.base.config import LIMITS

    parameters = TEMPLATE["Parameters"]
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    for variable, default in LIMITS.items():
        parameter = variables[variable]["Ref"]
        assert parameters[parameter]["Default"] == default and parameters[parameter]["MinValue"] == 0, variable
