"""The operation handler: parse -> authorize (again) -> call the operation -> map the result to JSON.

Each function's app.py is one line that names its route and operation; everything they share lives here.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from collections.abc import Callable
from typing import Any

from orgapi.base.deadline import Deadline
from orgapi.base.errors import ApiError, BadRequest, ConfigError, Forbidden, NotFound, Unauthorized
from orgapi.base.observability import logger, metrics
from orgapi.contract.routes import ROUTES_BY_NAME, Route, required_permission
from orgapi.gateway.cors import with_cors
from orgapi.logto.http import LogtoError, NoAnswer
from orgapi.logto.management import PLAIN_ID
from orgapi.logto.upstream import api_error
from orgapi.operations.request import Operation, Request
from orgapi.operations.services import Services, services
from orgapi.outcomes import audit
from orgapi.tokens.identity import Caller

MAX_BODY_BYTES = 64 * 1024


def plain_path_ids(route: Route, event: dict[str, Any]) -> dict[str, str]:
    """Every path parameter is a plain id, or the request ends here (400) before anything uses it: `..`, `.` or an
    encoded slash in an id would otherwise rewrite the Management API route it is put into."""
    raw = event.get("pathParameters") or {}
    expected = [part[1:-1] for part in route.path.split("/") if part.startswith("{")]
    path: dict[str, str] = {}
    for name in expected:
        value = raw.get(name)
        if not isinstance(value, str):
            raise NotFound("No such route", code="route_not_found")
        if not PLAIN_ID.fullmatch(value):
            raise BadRequest(f"{name} must be a plain id ([0-9A-Za-z_-], at most 64)", code="invalid_id")
        path[name] = value
    return path


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


def _serve(
    route: Route, operation: Operation, shared: Services, event: dict[str, Any], context: Any, served: list[Request]
) -> dict[str, Any]:
    # API Gateway has routed already; a request for another route means the template and code disagree.
    if event.get("httpMethod") != route.method or event.get("resource") != route.path:
        raise NotFound("No such route", code="route_not_found")
    caller = Caller.from_authorizer_context((event.get("requestContext") or {}).get("authorizer"))
    path = plain_path_ids(route, event)
    logger.append_keys(sub=caller.subject, organization_id=caller.organization_id or path.get("organizationId"))
    overrides = dict(shared.settings.permission_overrides)
    check_access(route, caller, path, overrides)
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
    served.append(request)
    request.validate_input()
    try:
        if "invitationId" in path:  # every route naming an invitation reads it, and that read needs no permission
            request.start_invitation_read(shared.logto)
        # Permissions as Logto grants them now (live), not only as the token said when it was issued.
        request.access = shared.access.resolve(route, caller, required_permission(route, overrides), request.deadline)
        result = operation(request, shared)
    finally:
        for action, organization_id, targets in request.changes:  # what happened, however the operation ended
            audit.record(shared.audit, caller, action, organization_id, **targets)
        request.ahead.settle()
    return _response(result.status, result.body, result.headers)


def _audit(route: Route, event: dict[str, Any], requests: list[Request], status: int) -> None:
    """One `audit` line per mutating request: who, where, what, on what, and how it ended. Ids only: never a token,
    a secret, an e-mail address or a body."""
    if route.method == "GET":
        return
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    request = requests[0] if requests else None
    path = request.path if request else {}
    logger.info(
        "audit",
        extra={
            "audit": {
                "actor": {"sub": str(authorizer.get("sub") or ""), "clientId": str(authorizer.get("clientId") or "")},
                "organizationId": path.get("organizationId") or str(authorizer.get("organizationId") or "") or None,
                "action": route.name,
                "targets": {
                    **{k: v for k, v in path.items() if k != "organizationId"},
                    **(request.audit_targets if request else {}),
                },
                "status": status,
            }
        },
    )


def build_handler(
    route_name: str, operation: Operation, *, needs_cleanups: bool = False
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda handler of one operation. One function serves one route, so no resolver is needed: API Gateway
    routed the request already (and a resolver costs ~75 ms of cold start)."""
    route = ROUTES_BY_NAME[route_name]
    shared = services()  # configuration is validated here, at cold start
    if route.uses_table and not shared.settings.state_table and os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        raise ConfigError("IDEMPOTENCY_TABLE is not set")  # fail the cold start, not every request
    if needs_cleanups and shared.cleanups is None:
        raise ConfigError("CLEANUP_TABLE is not set")  # where this function records compensations it cannot finish
    if route.method != "GET" and shared.audit is None and os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        raise ConfigError("AUDIT_TABLE is not set")  # a change that happened must leave its audit entry

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    @with_cors(shared.settings.cors)  # the one place every response, success or error, gets its CORS headers
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        logger.set_correlation_id((event.get("requestContext") or {}).get("requestId"))
        served: list[Request] = []
        if shared.audit is not None:
            shared.audit.discard_recorded()  # nothing left over from an invocation that ended abruptly
        try:
            try:
                response = _serve(route, operation, shared, event, context, served)
            except (LogtoError, NoAnswer) as failure:  # what the operation left to the one mapping
                raise api_error(failure) from None
        except ApiError as error:
            metrics.add_metric(name="ClientError" if error.status < 500 else "ServerError", unit="Count", value=1)
            logger.info("request_failed", extra={"status": error.status, "code": error.code})
            response = _response(error.status, error.body(), error.headers())
        except Exception:
            metrics.add_metric(name="ServerError", unit="Count", value=1)
            logger.exception("unhandled_error")
            response = _response(500, {"message": "Internal server error", "code": "internal_error"})
        else:
            metrics.add_metric(name="Success", unit="Count", value=1)
        _audit(route, event, served, response["statusCode"])
        if shared.audit is not None:
            shared.audit.publish_recorded()  # the entries are stored already; their events go out now
        return response

    return lambda_handler
