"""Each function's role as `sam deploy` would create it, for the local AWS to enforce (`make local`, `make invoke`).

samtranslator (SAM CLI's own translator, offline) expands template.yaml: policy templates such as DynamoDBCrudPolicy
become inline statements of an AWS::IAM::Role per function. Their intrinsics are resolved here as CloudFormation
would for the local stack: parameters, pseudo parameters, and Ref / Fn::GetAtt of the stack's resources through the
names the local stack gave them (found from the functions' environment: IDEMPOTENCY_TABLE is `!Ref IdempotencyTable`
in the template and `logto-org-api-local-idempotency` locally). What cannot be resolved or evaluated faithfully is a
RoleError: one line naming the function, and `make local` refuses to start.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from pathlib import Path
from typing import Any

from local.policy import PolicyError, parse_document

ACCOUNT = "123456789012"  # moto's default account: the ARNs it hands out carry it
PARTITION = "aws"
ROLE_KEY_PREFIX = "role-"  # a function's access key id: role-<LogicalId> (the local AWS enforces that role)

# AWS managed policies SAM attaches to every function role, as published (actions on "*"). They cover CloudWatch
# Logs and X-Ray, which the local stack does not serve; kept so the role is complete. Others are refused.
MANAGED_POLICIES: dict[str, list[dict[str, Any]]] = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    ],
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": [
        {
            "Effect": "Allow",
            "Action": [
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
                "xray:GetSamplingStatisticSummaries",
            ],
            "Resource": "*",
        }
    ],
}


class RoleError(Exception):
    """The template's roles cannot be enforced locally as written; the message is one line naming the function."""


def role_key(function: str) -> str:
    return f"{ROLE_KEY_PREFIX}{function}"


def role_credentials(function: str) -> dict[str, str]:
    """What a function's worker gets instead of shared fake credentials: its own role's (local) access key."""
    return {"AWS_ACCESS_KEY_ID": role_key(function), "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local"}


def arn_of(resource_type: str, ref: str, region: str) -> str | None:
    """A resource's ARN (Fn::GetAtt X.Arn) from what Ref returns for it, for the types a function is granted."""
    base = f"arn:{PARTITION}:{{}}:{region}:{ACCOUNT}:"
    if resource_type == "AWS::DynamoDB::Table":
        return base.format("dynamodb") + f"table/{ref}"
    if resource_type == "AWS::Events::EventBus":
        return base.format("events") + f"event-bus/{ref}"
    if resource_type == "AWS::SQS::Queue":  # Ref is the queue URL
        return base.format("sqs") + ref.rstrip("/").rsplit("/", 1)[-1]
    if resource_type in ("AWS::SNS::Topic", "AWS::SecretsManager::Secret"):  # Ref is the ARN
        return ref
    if resource_type == "AWS::S3::Bucket":
        return f"arn:{PARTITION}:s3:::{ref}"
    return None


def read_template(path: Path) -> dict[str, Any]:
    from samcli.yamlhelper import yaml_parse

    try:
        doc = yaml_parse(path.read_text())
    except Exception as error:  # a YAML error, told in one line
        raise RoleError(f"{path.name} does not parse: {str(error).splitlines()[0]}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("Resources"), dict):
        raise RoleError(f"{path.name} has no Resources")
    return doc


def translate(doc: dict[str, Any], parameters: dict[str, str], region: str) -> dict[str, Any]:
    """template.yaml as SAM transforms it for `sam deploy` (code locations stubbed: the transform wants S3 URIs)."""
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    from samtranslator.translator.transform import transform

    doc = json.loads(json.dumps(doc))
    for resource in doc["Resources"].values():
        props = resource.get("Properties") if isinstance(resource, dict) else None
        if not isinstance(props, dict):
            continue
        if resource.get("Type") == "AWS::Serverless::Function" and "InlineCode" not in props:
            props["CodeUri"] = "s3://local/code.zip"
        if resource.get("Type") == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = "s3://local/layer.zip"

    class NoManagedPolicies:  # managed policy *names* are not looked up offline; ARNs are checked below
        def load(self) -> dict[str, str]:
            return {}

    try:
        return transform(doc, parameters, NoManagedPolicies())
    except Exception as error:
        causes = getattr(error, "causes", None) or [error]
        first = causes[0]
        where = f"{first.logical_id}: " if getattr(first, "logical_id", None) else ""
        message = " ".join(str(getattr(first, "message", first)).split())
        raise RoleError(f"{where}SAM's transform refuses it (as `sam deploy` would): {message}") from None


class Resolver:
    """CloudFormation's intrinsics for the values inside role policies, for one local stack."""

    def __init__(
        self,
        resources: dict[str, Any],
        parameters: dict[str, str],
        conditions: dict[str, Any],
        physical: dict[str, str],
        region: str,
        stack_name: str = "logto-org-api-local",
    ):
        self.resources, self.conditions, self.physical, self.region = resources, conditions, physical, region
        self.values = {
            **parameters,
            "AWS::Region": region,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": PARTITION,
            "AWS::StackName": stack_name,
            "AWS::URLSuffix": "amazonaws.com",
        }
        self._condition_cache: dict[str, bool] = {}

    NO_VALUE = object()

    def condition_holds(self, resource: dict[str, Any]) -> bool:
        """Whether a resource with a Condition exists in this stack."""
        return "Condition" not in resource or self.condition(resource["Condition"])

    def chosen(self, value: Any) -> Any:
        """The branch an Fn::If takes, left unresolved (to see which resource it names)."""
        while isinstance(value, dict) and list(value) == ["Fn::If"]:
            condition, yes, no = value["Fn::If"]
            value = yes if self.condition(condition) else no
        return value

    def condition(self, name: str) -> bool:
        if name not in self._condition_cache:
            if name not in self.conditions:
                raise RoleError(f"the condition {name} is not defined")
            self._condition_cache[name] = bool(self.resolve(self.conditions[name]))
        return self._condition_cache[name]

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return self.NO_VALUE
        if name in self.values:
            return self.values[name]
        if name in self.resources:
            if name not in self.physical:
                raise RoleError(
                    f"{name} ({self.resources[name].get('Type')}) has no name in the local stack: "
                    "no function's environment names it (e.g. TABLE: !Ref " + name + "), so the local stack cannot "
                    "tell which local resource it is"
                )
            return self.physical[name]
        raise RoleError(f"it names {name}, which template.yaml does not define")

    def get_att(self, name: str, attribute: str) -> str:
        if name not in self.resources:
            raise RoleError(f"it names {name}, which template.yaml does not define")
        if attribute != "Arn":
            raise RoleError(f"Fn::GetAtt {name}.{attribute} is not resolved by the local check (only .Arn)")
        resource_type = self.resources[name].get("Type", "")
        arn = arn_of(resource_type, str(self.ref(name)), self.region)
        if arn is None:
            raise RoleError(f"the local check does not know the ARN of a {resource_type} ({name})")
        return arn

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in map(self.resolve, node) if v is not self.NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                name, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.get_att(name, attribute)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(a) for a in arg)
            if key == "Fn::Or":
                return any(self.resolve(a) for a in arg)
            if key == "Fn::Equals":
                left, right = self.resolve(arg)
                return str(left) == str(right)
            if key == "Fn::Select":
                index, items = self.resolve(arg)
                return items[int(index)]
            if key == "Fn::Split":
                separator, text = self.resolve(arg)
                return str(text).split(separator)
            if key == "Fn::Join":
                separator, items = self.resolve(arg)
                return separator.join(str(i) for i in items)
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else arg
                local = {k: self.resolve(v) for k, v in variables.items()}

                def substitute(match: re.Match[str]) -> str:
                    name = match.group(1)
                    if name in local:
                        return str(local[name])
                    if "." in name:
                        return self.get_att(*name.split(".", 1))
                    return str(self.ref(name))

                return re.sub(r"\$\{([A-Za-z0-9:._]+)\}", substitute, text)
            if key.startswith("Fn::"):
                raise RoleError(f"{key} is not resolved by the local check")
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in node.items()) if v is not self.NO_VALUE}


def lambda_functions(translated: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in translated["Resources"].items() if v.get("Type") == "AWS::Lambda::Function"}


def _referenced(value: Any) -> tuple[str, str] | None:
    """('Ref'|'Arn', LogicalId) when a template value is `!Ref X` or `!GetAtt X.Arn`."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref" and isinstance(arg, str):
            return "Ref", arg
        if key == "Fn::GetAtt":
            name, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
            if attribute == "Arn":
                return "Arn", name
    return None


def local_names(translated: dict[str, Any], local_env: dict[str, str]) -> dict[str, str]:
    """LogicalId -> what Ref returns for it locally, read off the functions' environment: a variable that is
    `!Ref X` in the template and has a value in the local stack's environment names X's local resource."""
    resources = translated["Resources"]
    names: dict[str, str] = {}
    for function in lambda_functions(translated).values():
        variables = ((function["Properties"].get("Environment") or {}).get("Variables")) or {}
        for variable, value in variables.items():
            # `!If [Cond, !Ref X, !Ref Param]` (a resource the stack creates unless one is named): either branch
            # may be the resource; the local environment holds the name it has here.
            candidates = [value]
            while isinstance(candidates[-1], dict) and list(candidates[-1]) == ["Fn::If"]:
                _, yes, no = candidates.pop()["Fn::If"]
                candidates += [no, yes]
            found = next((f for f in map(_referenced, candidates) if f and f[1] in resources), None)
            if found and local_env.get(variable):
                kind, name = found
                local = local_env[variable]
                if kind == "Arn":  # the name from the ARN: what follows the type prefix (table/, event-bus/, ...)
                    local = re.split(r"[:/]", local)[-1]
                names.setdefault(name, local)
    return names


def function_roles(
    template: Path, parameters: dict[str, str], local_env: dict[str, str], region: str
) -> dict[str, Any]:
    """{"roles": {LogicalId: {"statements": [...], "sources": [...]}}, "names": {LogicalId: {"ref", "arn"}}}: the
    resolved statements of each function's role, checked for what the local AWS cannot enforce."""
    doc = read_template(template)
    defaults = {k: str(v.get("Default", "")) for k, v in (doc.get("Parameters") or {}).items() if isinstance(v, dict)}
    values = {**defaults, **parameters}
    translated = translate(doc, values, region)
    resources = translated["Resources"]
    physical = local_names(translated, local_env)
    resolver = Resolver(resources, values, translated.get("Conditions") or {}, physical, region)
    roles: dict[str, Any] = {}
    for name, function in lambda_functions(translated).items():
        try:
            roles[name] = _role(name, function, resources, resolver, doc)
        except (RoleError, PolicyError) as error:
            raise RoleError(f"{name}: {error}") from None
    names = {}
    for logical, ref in physical.items():
        arn = arn_of(resources[logical].get("Type", ""), ref, region)
        names[logical] = {"ref": ref, "arn": arn}
    for parameter, value in values.items():  # parameters holding an ARN (M2MSecretArn), named in the log too
        if isinstance(value, str) and value.startswith("arn:"):
            names[parameter] = {"ref": value, "arn": value}
    return {"roles": roles, "names": names}


def _role(
    name: str, function: dict[str, Any], resources: dict[str, Any], resolver: Resolver, doc: dict[str, Any]
) -> dict[str, Any]:
    role = function["Properties"].get("Role")
    found = _referenced(role)
    if not found or found[1] not in resources or resources[found[1]].get("Type") != "AWS::IAM::Role":
        raise RoleError("its Role is not one the template creates; the local check can only enforce those")
    props = resources[found[1]].get("Properties") or {}
    if "PermissionsBoundary" in props:
        raise RoleError("a PermissionsBoundary is not evaluated by the local check")
    statements: list[dict[str, Any]] = []
    sources: list[str] = []
    for arn in resolver.resolve(props.get("ManagedPolicyArns") or []):
        if arn not in MANAGED_POLICIES:
            raise RoleError(f"the managed policy {arn} is not known to the local check (local/roles.py)")
        for statement in MANAGED_POLICIES[arn]:
            statements.append(statement)
            sources.append(f"managed policy {arn.rsplit('/', 1)[-1]}")
    originals = (((doc["Resources"].get(name) or {}).get("Properties")) or {}).get("Policies")
    originals = originals if isinstance(originals, list) else [originals] if originals else []
    documents: list[tuple[str, Any]] = []
    for policy in resolver.resolve(props.get("Policies") or []):  # an Fn::If around a policy picks it or drops it
        index = policy.get("PolicyName", "").rsplit("Policy", 1)[-1]
        source = f"Policies[{index}]"
        if index.isdigit() and int(index) < len(originals):
            original = originals[int(index)]
            kind = next(iter(original)) if isinstance(original, dict) and len(original) == 1 else "Statement"
            source += f" {kind}" if isinstance(original, dict) else f" {original}"
        documents.append((source, policy.get("PolicyDocument")))
    # Policies attached from outside the function (AWS::IAM::Policy / ManagedPolicy naming the role, as SAM
    # Connectors create them) grant as much as inline ones.
    for logical, resource in resources.items():
        if resource.get("Type") in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            attached = (resource.get("Properties") or {}).get("Roles") or []
            if {"Ref": found[1]} in attached and resolver.condition_holds(resource):
                documents.append((logical, resolver.resolve(resource["Properties"].get("PolicyDocument"))))
    for source, document in documents:
        raw = document.get("Statement") if isinstance(document, dict) else None
        for statement in [raw] if isinstance(raw, dict) else raw or []:
            parse_document({"Statement": [statement]}, source)  # refuses what cannot be evaluated
            statements.append(statement)
            sources.append(source)
    _check_environment(name, function, resolver, statements)
    return {"statements": statements, "sources": sources}


def _check_environment(name: str, function: dict[str, Any], resolver: Resolver, statements: list[Any]) -> None:
    """A table (or other resource) named in the function's environment with no statement granting anything on it:
    the function was surely meant to use it, and deployed every call on it would be denied."""
    variables = ((function["Properties"].get("Environment") or {}).get("Variables")) or {}
    parsed = [s for s in parse_document({"Statement": statements}) if s.effect == "Allow"] if statements else []
    for variable, value in variables.items():
        found = _referenced(resolver.chosen(value))
        if not found or found[1] not in resolver.resources:
            continue
        logical = found[1]
        arn = resolver.get_att(logical, "Arn")
        service = arn.split(":")[2]
        # Logs and X-Ray on "*" (every role has them) are no grant on a table: the statement must be for its service.
        if not any(s.matches_resource(arn) and s.names_service(service) for s in parsed):
            raise RoleError(
                f"its environment names {logical} ({variable}) but its role grants nothing on it; "
                f"add a policy for it to {name}'s Policies in template.yaml"
            )


def install(aws_url: str, payload: dict[str, Any]) -> None:
    """Hands the roles to the local AWS (local/enforce.py); from then on role-<LogicalId> keys are enforced."""
    request = urllib.request.Request(
        f"{aws_url}/__local/iam",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="PUT",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def main() -> None:
    """Prints the roles the local AWS would enforce for a template (or the one line why it would refuse to start)."""
    import argparse
    import sys

    from local.serve import DEFAULT_API_RESOURCE, REGION, SECRET_NAME, TEMPLATE, function_env, template_parameters

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    parser.add_argument(
        "--env", action="append", default=[], help="NAME=value: more of the local functions' environment"
    )
    args = parser.parse_args()
    env = function_env("http://127.0.0.1:3002", DEFAULT_API_RESOURCE, "", "http://127.0.0.1:3001")
    env.update(item.split("=", 1) for item in args.env)
    secret = f"arn:{PARTITION}:secretsmanager:{REGION}:{ACCOUNT}:secret:{SECRET_NAME}-AbCdEf"
    try:
        roles = function_roles(args.template, {**template_parameters(env), "M2MSecretArn": secret}, env, REGION)
    except RoleError as error:
        print(f"error: template.yaml: {error}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(roles, indent=1))


if __name__ == "__main__":
    main()
