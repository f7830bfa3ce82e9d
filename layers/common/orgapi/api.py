"""The operation handler: parse -> authorize (again) -> call the operation -> map the result to JSON.

Each function's app.py is one line that names its route and operation; everything they share lives here.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from orgapi.caller import Caller
from orgapi.deadline import Deadline
from orgapi.errors import ApiError, BadRequest, Forbidden, NotFound, Unauthorized
from orgapi.observability import logger, metrics
from orgapi.routes import ROUTES_BY_NAME, Route, required_permission
from orgapi.services import Services, services

if TYPE_CHECKING:
    from pydantic import BaseModel

MAX_BODY_BYTES = 64 * 1024
Model = TypeVar("Model", bound="BaseModel")


@dataclass
class Request:
    route: Route
    caller: Caller
    path: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    raw_body: str | None
    deadline: Deadline
    lambda_context: Any = None

    def body(self, model: type[Model]) -> Model:
        if self.raw_body is None or not self.raw_body.strip():
            raise BadRequest("A JSON body is required", code="invalid_body")
        try:
            data = json.loads(self.raw_body)
        except (ValueError, RecursionError):  # 64 KB of "[" nests deeper than the parser's recursion limit
            raise BadRequest("The body is not valid JSON", code="invalid_json") from None
        return _validated(model, data)

    def query_as(self, model: type[Model]) -> Model:
        return _validated(model, self.query)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Result:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Operation = Callable[[Request, Services], Result]


def _validated(model: type[Model], data: Any) -> Model:
    from pydantic import ValidationError  # loaded with the models, only by operations that parse input

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # Field paths and reasons only: the rejected values are never echoed back or logged.
        problems = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5]]
        raise BadRequest("Invalid request: " + "; ".join(problems), code="invalid_request") from None


def check_access(route: Route, caller: Caller, path: dict[str, str], overrides: dict[str, str]) -> None:
    """Defence in depth: the authorizer's policy already enforced all of this; a misconfigured API must not bypass it."""
    if time.time() >= caller.expires_at:
        raise Unauthorized()  # API Gateway may serve a cached Allow after the token's exp
    if caller.kind not in route.kinds:
        raise Forbidden("This kind of token cannot call this route", code="wrong_token_kind")
    permission = required_permission(route, overrides)
    if permission is not None and permission not in caller.scopes:
        raise Forbidden(f"Missing permission {permission}", code="missing_permission")
    if route.organization_scoped and path.get("organizationId") != caller.organization_id:
        raise Forbidden("The token is for another organization", code="other_organization")


def _response(status: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """An API Gateway (REST, Lambda proxy) response; errors are always {"message", "code"}."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps(body, separators=(",", ":")) if body is not None else "",
        "isBase64Encoded": False,
    }


def _raw_body(event: dict[str, Any]) -> str | None:
    body = event.get("body")
    if body is None:
        return None
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise BadRequest("The body is not valid UTF-8", code="invalid_body") from None
    if len(body.encode("utf-8")) > MAX_BODY_BYTES:
        raise BadRequest(f"The body exceeds {MAX_BODY_BYTES} bytes", code="body_too_large")
    return body


def _serve(route: Route, operation: Operation, shared: Services, event: dict[str, Any], context: Any) -> dict[str, Any]:
    # API Gateway has routed already; a request for another route means the template and code disagree.
    if event.get("httpMethod") != route.method or event.get("resource") != route.path:
        raise NotFound("No such route", code="route_not_found")
    path = {k: v for k, v in (event.get("pathParameters") or {}).items() if isinstance(v, str)}
    caller = Caller.from_authorizer_context((event.get("requestContext") or {}).get("authorizer"))
    logger.append_keys(sub=caller.subject, organization_id=caller.organization_id or path.get("organizationId"))
    check_access(route, caller, path, dict(shared.settings.permission_overrides))
    request = Request(
        route=route,
        caller=caller,
        path=path,
        query={k: v for k, v in (event.get("queryStringParameters") or {}).items() if isinstance(v, str)},
        headers={k.lower(): v for k, v in (event.get("headers") or {}).items() if isinstance(v, str)},
        raw_body=_raw_body(event),
        deadline=Deadline.from_context(context),
        lambda_context=context,
    )
    result = operation(request, shared)
    return _response(result.status, result.body, result.headers)


def build_handler(route_name: str, operation: Operation) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda handler of one operation. One function serves one route, so no resolver is needed: API Gateway
    routed the request already (and a resolver costs ~75 ms of cold start)."""
    route = ROUTES_BY_NAME[route_name]
    shared = services()  # configuration is validated here, at cold start

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        logger.set_correlation_id((event.get("requestContext") or {}).get("requestId"))
        try:
            response = _serve(route, operation, shared, event, context)
        except ApiError as error:
            metrics.add_metric(name="ClientError" if error.status < 500 else "ServerError", unit="Count", value=1)
            logger.info("request_failed", extra={"status": error.status, "code": error.code})
            return _response(error.status, error.body(), error.headers())
        except Exception:
            metrics.add_metric(name="ServerError", unit="Count", value=1)
            logger.exception("unhandled_error")
            return _response(500, {"message": "Internal server error", "code": "internal_error"})
        metrics.add_metric(name="Success", unit="Count", value=1)
        return response

    return lambda_handler
