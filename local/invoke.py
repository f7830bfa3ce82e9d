"""`make invoke`: `sam local invoke` without Docker. Runs one function of template.yaml on an event file, exactly as the
template defines it (handler, layer, environment from the parameters and Globals, memory, timeout), in a fresh worker
process, and prints what `sam local invoke` prints: the function's log lines (START / END / REPORT around them) on
stderr, the response on stdout. Exit code 1 when the function raised (its error payload is still printed).

  make invoke FN=ListMembersFunction EVENT=events/list_members.json
  make invoke FN=functions/list_members EVENT=events/list_members.json ENV=my-env.json   # `--env-vars` format
  make invoke FN=AuthorizerFunction EVENT=events/authorizer.json [TOKEN=eyJ...]

It runs against the running `make local` (its Logto, stand-in or yours, and its Secrets Manager and tables). With
LOGTO_ENDPOINT set (and LOGTO_M2M_APP_ID, LOGTO_M2M_APP_SECRET, API_RESOURCE) it needs no `make local`: it starts a
local Secrets Manager and tables of its own for the one invocation.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from local.lifeline import follow_parent
from local.serve import (
    DEFAULT_API_RESOURCE,
    ROOT,
    LocalStack,
    StartupError,
    already_running,
    function_env,
    lambda_runner,
    load_stacks,
    stop_once,
    template_parameters,
)

# events/authorizer.json asks for a token this way, so that the same file works with the real `sam local invoke`.
TOKEN_PLACEHOLDER = re.compile(r"<paste a token from `make token ([^`]*)`>")


class InvokeError(Exception):
    pass


def all_functions(stacks: Any) -> list[Any]:
    from samcli.lib.providers.sam_function_provider import SamFunctionProvider

    return list(SamFunctionProvider(stacks).get_all())


def find_function(stacks: Any, wanted: str) -> Any:
    """A function by LogicalId, or by its code folder (`functions/list_members`, `list_members`)."""
    functions = all_functions(stacks)
    by_id = {f.name: f for f in functions}
    if wanted in by_id:
        return by_id[wanted]
    folder = Path(wanted.rstrip("/")).name
    for function in functions:
        if function.codeuri and Path(function.codeuri.rstrip("/")).name == folder:
            return function
    names = ", ".join(sorted(by_id))
    raise InvokeError(f"no function {wanted!r} in template.yaml; functions: {names}")


def read_json_object(path: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except OSError as error:
        raise InvokeError(f"cannot read {what}{path}: {error.strerror}") from None
    except ValueError as error:
        raise InvokeError(f"{what}{path} is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise InvokeError(f"{what}{path} must be a JSON object")
    return data


def read_event(path: str) -> dict[str, Any]:
    if not path:
        raise InvokeError("EVENT is required: make invoke FN=... EVENT=events/<name>.json (see events/README.md)")
    return read_json_object(path, "the event ")


def read_env_vars(path: str | None) -> dict[str, Any]:
    """`sam local invoke --env-vars` format: {"Parameters": {...}} for every function, {"<LogicalId>": {...}} for one."""
    if not path:
        return {}
    data = read_json_object(path, "ENV=")
    if not all(isinstance(v, dict) for v in data.values()):
        raise InvokeError(f'ENV={path} must look like {{"Parameters": {{"NAME": "value"}}, "<LogicalId>": {{...}}}}')
    return data  # values as written: SAM's EnvironmentVariables turns them into strings as `sam local invoke` does


def fill_token(event: dict[str, Any], token: str | None, stack: dict[str, Any] | None) -> str | None:
    """A TOKEN authorizer event gets TOKEN, or, for the placeholder, a token minted as it says from the stand-in.
    Returns what was done, for the log."""
    if event.get("type") != "TOKEN":
        if token:
            raise InvokeError("TOKEN= is only for authorizer (TOKEN) events")
        return None
    if token:
        event["authorizationToken"] = token if token.startswith("Bearer ") else f"Bearer {token}"
        return "authorizationToken from TOKEN"
    match = TOKEN_PLACEHOLDER.search(str(event.get("authorizationToken", "")))
    if not match:
        return None
    if stack is None or stack.get("external"):
        raise InvokeError(
            f"this event needs a token: add TOKEN=$(make -s token {match.group(1)}) (with `make local` running)"
        )
    words = dict(w.split("=", 1) for w in match.group(1).split() if "=" in w)
    kinds = {"org": "organization", "org-api": "organization_api", "global": "global_api"}
    if words.get("KIND", "org") not in kinds:
        raise InvokeError(f"the event's placeholder asks for KIND={words['KIND']}; KIND is one of {', '.join(kinds)}")
    body = {
        "kind": kinds[words.get("KIND", "org")],
        "userId": words.get("AS", "alice"),
        "organizationId": words.get("ORG"),
    }
    request = urllib.request.Request(
        f"{stack['logto']}/__dev/tokens", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            event["authorizationToken"] = f"Bearer {json.load(response)['token']}"
    except urllib.error.HTTPError as error:  # the stand-in's refusal, e.g. an unknown user
        try:
            reason = json.load(error).get("message", error.reason)
        except ValueError:
            reason = error.reason
        raise InvokeError(f"the stand-in refused the event's token (`make token {match.group(1)}`): {reason}") from None
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        raise InvokeError("the Logto stand-in did not mint the event's token; is `make local` running?") from None
    return f"authorizationToken minted from the stand-in as `make token {match.group(1)}`"


def own_aws(data: Path, app_python: str) -> tuple[LocalStack, str, dict[str, str]]:
    """LOGTO_ENDPOINT without `make local`: a throwaway local Secrets Manager + tables holding your M2M credentials."""
    missing = [v for v in ("LOGTO_M2M_APP_ID", "LOGTO_M2M_APP_SECRET", "API_RESOURCE") if not os.environ.get(v)]
    if missing:
        raise InvokeError(f"LOGTO_ENDPOINT is set, so {', '.join(missing)} must be set too")
    args = argparse.Namespace(data=str(data / "invoke"), app_python=app_python)
    stack = LocalStack(args)
    aws_url = stack.start_moto()
    stack.seed_aws(aws_url, os.environ["LOGTO_M2M_APP_ID"], os.environ["LOGTO_M2M_APP_SECRET"])
    api_resource = os.environ.get("API_RESOURCE") or DEFAULT_API_RESOURCE
    env = function_env(
        os.environ["LOGTO_ENDPOINT"].rstrip("/"), api_resource, os.environ.get("ALLOWED_ORIGINS", ""), "", external=True
    )
    try:
        stack.enforce_roles(aws_url, env)
    except StartupError:
        stack.stop()
        raise
    return stack, aws_url, env


class Output:
    """SAM's StreamWriter interface, collecting the function's response."""

    def __init__(self) -> None:
        self.text = ""

    def write_str(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass


def invoke(args: argparse.Namespace) -> int:
    from samcli.local.services.base_local_service import LambdaOutputParser

    if not args.function:
        names = ", ".join(sorted(f.name for f in all_functions(load_stacks({}))))
        raise InvokeError(
            f"FN is required: make invoke FN=<LogicalId or function folder> EVENT=events/<name>.json; "
            f"functions: {names}"
        )
    event = read_event(args.event)
    env_vars = read_env_vars(args.env_vars)
    data = Path(args.data).resolve()
    stack_info: dict[str, Any] | None = None
    own: LocalStack | None = None
    if os.environ.get("LOGTO_ENDPOINT"):
        own, aws_url, env = own_aws(data, args.app_python)
    elif (stack_info := already_running(data)) is None:  # (a run.json left by a stack killed with -9 doesn't count)
        raise InvokeError(
            "no running `make local` found: start it in another terminal (make invoke runs the function against it), "
            "or set LOGTO_ENDPOINT (+ LOGTO_M2M_APP_ID, LOGTO_M2M_APP_SECRET, API_RESOURCE) to use your own Logto"
        )
    else:
        aws_url, env = stack_info["aws"], dict(stack_info["functionEnv"])
    try:
        note = fill_token(event, args.token, stack_info)
        stacks = load_stacks(template_parameters(env))
        function = find_function(stacks, args.function)
        overrides = {**env_vars, "Parameters": {**env, **env_vars.get("Parameters", {})}}
        runner = lambda_runner(stacks, args.app_python, aws_url, overrides, workers=1, log=None)
        print(
            f"Invoking {function.handler} ({function.runtime}) as {function.name}: a fresh local worker, no Docker",
            file=sys.stderr,
        )
        if note:
            print(note, file=sys.stderr)
        output = Output()
        try:
            runner.invoke(function.name, json.dumps(event), stdout=output, stderr=None)
        finally:
            runner.local_runtime.stop()
        print(output.text, flush=True)
        try:
            json.loads(output.text)
        except ValueError:
            return 1  # not an answer at all
        return 1 if LambdaOutputParser.is_lambda_error_response(output.text) else 0
    finally:
        if own is not None:
            own.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("function", nargs="?", default="", help="LogicalId (ListMembersFunction) or function folder")
    parser.add_argument("--event", default="", help="event file (events/*.json)")
    parser.add_argument("--env-vars", help="environment overrides, `sam local invoke --env-vars` format")
    parser.add_argument("--token", help="for authorizer events: the token to put in authorizationToken")
    parser.add_argument("--app-python", default=str(ROOT / ".venv" / "bin" / "python"))
    parser.add_argument("--data", default=os.environ.get("LOCAL_DATA") or str(ROOT / ".local"))
    args = parser.parse_args()
    args.app_python = os.path.abspath(args.app_python)
    signal.signal(signal.SIGTERM, stop_once)
    signal.signal(signal.SIGINT, stop_once)
    follow_parent()  # a killed `make invoke` must not leave the invocation (and its worker) running
    try:
        sys.exit(invoke(args))
    except (InvokeError, StartupError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # the worker and any local AWS of our own are stopped by invoke()'s finally blocks
        print("interrupted: the invocation was stopped", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
