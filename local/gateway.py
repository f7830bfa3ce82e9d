"""SAM CLI's API Gateway emulator, with the gaps that matter for this service closed (notes/aws.md §2):

- the TOKEN authorizer's result cache, keyed by token, honouring ReauthorizeEvery, and the cached policy checked
  against each request's method ARN (so a policy that is not cache-correct fails here as it would in AWS);
- an explicit Deny wins over an Allow;
- an authorizer raising "Unauthorized" is a 401; any other authorizer error or a non-scalar context is a 500;
- every error API Gateway itself answers uses the template's GatewayResponses bodies and headers (CORS);
- CORS preflights: an OPTIONS on a path whose template defines one is answered 204 here, before routing and without
  the authorizer, with the template's headers and the request's Origin only when it is on the allow-list (what the
  mock integration's mapping template does in API Gateway).

SAM's internals are used through protected methods, so aws-sam-cli is pinned exactly (requirements-tools.txt) and the
end-to-end tests fail fast if an upgrade moves them.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

from flask import Response, request
from samcli.lib.utils.stream_writer import StreamWriter
from samcli.local.apigw.local_apigw_service import LocalApigwService
from werkzeug.exceptions import HTTPException

from local.iam import policy_decision


class GatewayResponded(HTTPException):
    """API Gateway answered by itself (401, 403, 500 from the authorizer step): an outcome, not an emulator failure."""

    def __init__(self, response: Response):
        super().__init__(description="gateway response", response=response)


class QuietGatewayResponses(logging.Filter):
    """SAM logs an error line for every exception out of the authorizer step, our gateway responses included; a 401
    is a normal outcome, and the request log line already says what happened."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            str(record.msg).startswith("Lambda authorizer failed to invoke successfully")
            and any("gateway response" in str(arg) for arg in (record.args or ()))
        )


@dataclass(frozen=True)
class Preflight:
    """The template's OPTIONS mock integration for one path: its static headers and the origin allow-list."""

    path: str
    headers: dict[str, str]
    allowed_origins: str  # ALLOWED_ORIGINS as the mapping template sees it: `*` or comma-separated origins

    def matches(self, path: str) -> bool:
        template, actual = self.path.split("/"), path.split("/")
        return len(template) == len(actual) and all(
            t == a or (t.startswith("{") and t.endswith("}") and a != "") for t, a in zip(template, actual, strict=True)
        )

    def response(self, origin: str | None) -> Response:
        headers = dict(self.headers)
        if self.allowed_origins.strip() == "*":
            headers["Access-Control-Allow-Origin"] = "*"
        elif origin and origin in (entry.strip() for entry in self.allowed_origins.split(",")):
            headers["Access-Control-Allow-Origin"] = origin
        return Response(status=204, headers=headers, mimetype="application/json")


def _header_value(expression: str) -> str | None:
    """A gateway response parameter: a 'static' value or method.request.header.<name> (absent: no header)."""
    if expression.startswith("'") and expression.endswith("'"):
        return expression[1:-1]
    prefix = "method.request.header."
    if expression.startswith(prefix):
        return request.headers.get(expression[len(prefix) :])
    raise ValueError(f"gateway response parameter not emulated: {expression}")


class FaithfulApigwService(LocalApigwService):
    def __init__(
        self,
        *args: Any,
        gateway_responses: dict[str, dict[str, Any]],
        authorizer_ttls: dict[str, int],
        preflights: list[Preflight],
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.gateway_responses, self.authorizer_ttls, self.preflights = gateway_responses, authorizer_ttls, preflights
        self._cache: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self._cache_lock = threading.Lock()
        self.authorizer_invocations = 0

    # -- gateway responses -----------------------------------------------------------------------------------------
    def gateway_response(self, kind: str, message: str, default_status: int) -> Response:
        spec = (
            self.gateway_responses.get(kind)
            or self.gateway_responses.get("DEFAULT_5XX" if default_status >= 500 else "DEFAULT_4XX")
            or {}
        )
        status = int(spec.get("StatusCode") or default_status)
        template = (spec.get("ResponseTemplates") or {}).get("application/json")
        if template:
            body = template.replace("$context.error.messageString", json.dumps(message)).replace(
                "$context.error.responseType", kind
            )
        else:
            body = json.dumps({"message": message})
        headers = {}
        for name, expression in ((spec.get("ResponseParameters") or {}).get("Headers") or {}).items():
            value = _header_value(expression)
            if value is not None:
                headers[name] = value
        return Response(body, status=status, headers=headers, mimetype="application/json")

    def create(self) -> None:
        super().create()
        logging.getLogger("samcli.local.apigw.local_apigw_service").addFilter(QuietGatewayResponses())

        @self._app.before_request
        def preflight() -> Response | None:
            if request.method != "OPTIONS":
                return None
            match = next((p for p in self.preflights if p.matches(request.path)), None)
            # No preflight defined for the path: routing answers it (no OPTIONS route: the 404 gateway response).
            return match.response(request.headers.get("Origin")) if match else None

        @self._app.after_request
        def shape_errors(response: Response) -> Response:
            # SAM's own error responses (function crashed, bad output...) get the template's error shape too.
            if response.status_code >= 400 and response.mimetype == "application/json":
                try:
                    body = json.loads(response.get_data())
                except ValueError:
                    return response
                if isinstance(body, dict) and "code" not in body and set(body) <= {"message", "Message"}:
                    kind = "DEFAULT_5XX" if response.status_code >= 500 else "DEFAULT_4XX"
                    shaped = self.gateway_response(
                        kind, str(body.get("message") or body.get("Message")), response.status_code
                    )
                    shaped.status_code = response.status_code
                    return shaped
            return response

        @self._app.post("/__local/cleanup")
        def cleanup() -> Response:
            """Run the scheduled clean-up function now (make local also runs it on a timer)."""
            return Response(json.dumps(self.run_cleanups()), mimetype="application/json")

        @self._app.get("/__local/stats")
        def stats() -> Response:
            runtime = self.lambda_runner.local_runtime
            return Response(
                json.dumps(
                    {
                        "authorizerInvocations": self.authorizer_invocations,
                        "functionInvocations": dict(runtime.invocations),
                        "workersStarted": dict(runtime.workers_started),
                    }
                ),
                mimetype="application/json",
            )

    def run_cleanups(self) -> Any:
        """Invoke RunCleanupsFunction with a scheduled event, as EventBridge would."""
        event = (Path(__file__).resolve().parent.parent / "events" / "run_cleanups.json").read_text()
        with StringIO() as out:
            self.lambda_runner.invoke(
                "RunCleanupsFunction", event, stdout=StreamWriter(out, auto_flush=True), stderr=self.stderr
            )
            raw = out.getvalue()
        try:
            return json.loads(raw)
        except ValueError:
            return {"error": raw[:200]}

    def _construct_error_handling(self) -> None:
        super()._construct_error_handling()
        for code in (404, 405):
            self._app.register_error_handler(
                code,
                lambda *_: self.gateway_response("MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token", 403),
            )

    def _valid_identity_sources(self, flask_request: Any, route: Any) -> bool:
        if not super()._valid_identity_sources(flask_request, route):
            # Missing header or ValidationExpression mismatch: 401 without invoking the authorizer.
            raise GatewayResponded(self.gateway_response("UNAUTHORIZED", "Unauthorized", 401))
        return True

    # -- the authorizer ------------------------------------------------------------------------------------------------
    def _invoke_authorizer(self, function_name: str, event: dict[str, Any]) -> Any:
        with StringIO() as out:
            self.lambda_runner.invoke(
                function_name, json.dumps(event), stdout=StreamWriter(out, auto_flush=True), stderr=self.stderr
            )
            raw = out.getvalue()
        with self._cache_lock:
            self.authorizer_invocations += 1
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def _invoke_parse_lambda_authorizer(
        self, lambda_authorizer: Any, auth_lambda_event: dict[str, Any], route_lambda_event: dict[str, Any], route: Any
    ) -> None:
        name = lambda_authorizer.authorizer_name
        token = str(auth_lambda_event.get("authorizationToken", ""))
        ttl = self.authorizer_ttls.get(name, 300)
        key = (name, token)
        now = time.monotonic()
        with self._cache_lock:
            cached = self._cache.get(key)
        if cached and cached[0] > now:
            result = cached[1]
        else:
            result = self._invoke_authorizer(lambda_authorizer.lambda_name, auth_lambda_event)
            if isinstance(result, dict) and "errorMessage" in result:
                if result.get("errorMessage") == "Unauthorized":
                    raise GatewayResponded(self.gateway_response("UNAUTHORIZED", "Unauthorized", 401))
                raise GatewayResponded(self.gateway_response("AUTHORIZER_FAILURE", "Internal server error", 500))
            if not self._valid_output(result):
                raise GatewayResponded(
                    self.gateway_response("AUTHORIZER_CONFIGURATION_ERROR", "Internal server error", 500)
                )
            if ttl > 0:
                with self._cache_lock:
                    self._cache[key] = (now + ttl, result)
        method_arn = self._create_method_arn(request, route.event_type)
        decision = policy_decision(result.get("policyDocument"), method_arn)
        if decision == "explicit_deny":
            raise GatewayResponded(
                self.gateway_response(
                    "ACCESS_DENIED", "User is not authorized to access this resource with an explicit deny", 403
                )
            )
        if decision != "allow":
            raise GatewayResponded(
                self.gateway_response("ACCESS_DENIED", "User is not authorized to access this resource", 403)
            )
        # API Gateway hands context values to the integration as strings.
        context = {
            k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in (result.get("context") or {}).items()
        }
        context["principalId"] = result.get("principalId")
        request_context = route_lambda_event.get("requestContext", {})
        request_context["authorizer"] = context
        route_lambda_event["requestContext"] = request_context

    @staticmethod
    def _valid_output(result: Any) -> bool:
        if (
            not isinstance(result, dict)
            or not result.get("principalId")
            or not isinstance(result.get("policyDocument"), dict)
        ):
            return False
        context = result.get("context") or {}
        return isinstance(context, dict) and all(isinstance(v, (str, int, float, bool)) for v in context.values())
