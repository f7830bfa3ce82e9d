"""SAM CLI's API Gateway emulator, with the gaps that matter for this service closed (notes/aws.md §2):

- the TOKEN authorizer's result cache, keyed by token, honouring ReauthorizeEvery, and the cached policy checked
  against each request's method ARN (so a policy that is not cache-correct fails here as it would in AWS);
- an explicit Deny wins over an Allow;
- an authorizer raising "Unauthorized" is a 401; any other authorizer error or a non-scalar context is a 500;
- every error API Gateway itself answers uses the template's GatewayResponses bodies and headers (CORS);
- CORS preflights: an OPTIONS on a path whose template defines one is answered 204 here, before routing and without
  the authorizer, with the template's headers and the request's Origin only when it is on the allow-list (what the
  mock integration's mapping template does in API Gateway);
- HTTP edges answered as API Gateway answers them, never by the emulator's web server: HEAD (or any method) a resource
  does not define, `//` in a path, a body that is not UTF-8 or cannot be read (malformed chunked encoding, shorter
  than its Content-Length), many or oversized headers, an unparseable or HTTP/0.9 request.

SAM's internals are used through protected methods, so aws-sam-cli is pinned exactly (requirements-tools.txt) and the
end-to-end tests fail fast if an upgrade moves them.
"""

from __future__ import annotations

import email.parser
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from io import BytesIO, StringIO
from pathlib import Path
from typing import Any

from flask import Response, request
from samcli.lib.utils.stream_writer import StreamWriter
from samcli.local.apigw.local_apigw_service import LocalApigwService
from werkzeug.datastructures import EnvironHeaders
from werkzeug.exceptions import ClientDisconnected, HTTPException
from werkzeug.serving import WSGIRequestHandler
from werkzeug.wsgi import get_input_stream

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


def _header_value(expression: str, request_header: Callable[[str], str | None]) -> str | None:
    """A gateway response parameter: a 'static' value or method.request.header.<name> (absent: no header)."""
    if expression.startswith("'") and expression.endswith("'"):
        return expression[1:-1]
    prefix = "method.request.header."
    if expression.startswith(prefix):
        return request_header(expression[len(prefix) :])
    raise ValueError(f"gateway response parameter not emulated: {expression}")


def render_gateway_response(
    responses: dict[str, dict[str, Any]],
    kind: str,
    message: str,
    default_status: int,
    request_header: Callable[[str], str | None],
) -> tuple[int, dict[str, str], str]:
    """Status, headers and JSON body of the template's gateway response `kind` (else DEFAULT_4XX/5XX)."""
    spec = responses.get(kind) or responses.get("DEFAULT_5XX" if default_status >= 500 else "DEFAULT_4XX") or {}
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
        value = _header_value(expression, request_header)
        if value is not None:
            headers[name] = value
    return status, headers, body


def merge_slashes(app: Callable[[dict[str, Any], Any], Iterable[bytes]]) -> Callable[[dict[str, Any], Any], Any]:
    """WSGI middleware: `/a//b` is routed as `/a/b`, as API Gateway does (localstack/localstack#11253: "In the AWS
    service, both of these work correctly"), where werkzeug's router answers a 308 HTML redirect.

    Merging only drops empty segments, so a request reaches exactly the route, path parameters and authorizer check
    (the method ARN is built from this same path) that its single-slash form reaches; `..` and `.` stay path parameter
    values, refused by the operations' plain-id check."""

    def middleware(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if "//" in path:
            environ["PATH_INFO"] = re.sub("/{2,}", "/", path)
        return app(environ, start_response)

    return middleware


def whole_body(
    app: Callable[[dict[str, Any], Any], Iterable[bytes]], gateway_responses: dict[str, dict[str, Any]]
) -> Callable[[dict[str, Any], Any], Any]:
    """WSGI middleware: the request body is read in full before routing, as API Gateway takes a request whole before
    any authorizer or function runs. A body that cannot be read (malformed chunked encoding; a chunked body or one
    shorter than its Content-Length, the client gone) is the 400 DEFAULT_4XX gateway response; werkzeug raised into
    SAM's handler instead (a 502 and a traceback) or answered its HTML 400."""

    def middleware(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        try:
            body = get_input_stream(environ).read()
        except (OSError, ClientDisconnected):
            status, headers, text = render_gateway_response(
                gateway_responses, "DEFAULT_4XX", "Bad Request", 400, EnvironHeaders(environ).get
            )
            return Response(text, status=status, headers=headers, mimetype="application/json")(environ, start_response)
        environ["wsgi.input"] = BytesIO(body)  # read again by the request as the server framed it (length or chunks)
        return app(environ, start_response)

    return middleware


class _AsUtf8Text:
    """The Flask request with its body as API Gateway passes on a text (non-binary) payload: UTF-8, each invalid byte
    sequence replaced by U+FFFD (AWS docs, "Binary media types for REST APIs": a text payload is UTF-8). SAM answers
    502 on such a body instead."""

    def __init__(self, flask_request: Any):
        self._request = flask_request

    def get_data(self, *args: Any, **kwargs: Any) -> bytes:
        return self._request.get_data(*args, **kwargs).decode("utf-8", "replace").encode("utf-8")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._request, name)


# REST API quota "Total combined size of request line and header values": 10240 bytes (AWS docs, "Amazon API Gateway
# quotas"). There is no limit on the number of headers (the 100 of http.server is http.client's _MAXHEADERS).
REQUEST_HEAD_LIMIT = 10240
HEAD_READ_CEILING = 1 << 20  # what is read of a request head at most (header names do not count towards AWS's limit)
ERROR_MESSAGES = {400: "Bad Request", 414: "URI Too Long", 431: "Request Header Fields Too Large"}


class GatewayRequestHandler(WSGIRequestHandler):
    """werkzeug's request handler with API Gateway's limits on the request head, and the template's JSON gateway
    responses where http.server answers a request it cannot take with an HTML page. Use FaithfulApigwService's
    request_handler() (it carries the template's gateway responses)."""

    gateway_responses: dict[str, dict[str, Any]] = {}

    def parse_request(self) -> bool:
        if not self.raw_requestline.strip():
            return super().parse_request()  # a blank line: http.server ends the connection
        lines, refusal = self._read_head()
        headers = email.parser.Parser(_class=self.MessageClass).parsestr(b"".join(lines).decode("iso-8859-1"))
        # http.server reads header lines itself, capped at 100 by a module constant of http.client; API Gateway has no
        # such cap. So the lines were read above (and parsed as http.client.parse_headers does), and http.server gets
        # only the Connection lines, to parse the request line and decide keep-alive as it always does (werkzeug
        # answers Expect: 100-continue itself).
        connection = [line for line in lines if line.partition(b":")[0].strip().lower() == b"connection"]
        self.headers, stream = headers, self.rfile  # headers: for the CORS headers of an error on the request line
        self.rfile = BytesIO((b"" if refusal else b"".join(connection)) + b"\r\n")
        try:
            parsed = super().parse_request()
        finally:
            self.rfile = stream
        self.headers = headers
        if parsed and refusal:
            self.send_error(refusal)
            return False
        if parsed and self.request_version == "HTTP/0.9":
            # No version on the request line (`GET /health`, or an empty target: `GET  HTTP/1.1`), or HTTP/0.9 itself:
            # http.server answers it the HTTP/0.9 way, a bare body without status line; API Gateway takes HTTP/1.x.
            self.send_error(HTTPStatus.BAD_REQUEST)
            return False
        return parsed

    def _read_head(self) -> tuple[list[bytes], int | None]:
        """The header lines, read to the blank line; and 414/431 if the request line/head is over API Gateway's limit."""
        request_line = len(self.raw_requestline.rstrip(b"\r\n"))
        lines: list[bytes] = []
        size, read = request_line, 0
        while True:
            line = self.rfile.readline(HEAD_READ_CEILING + 1 - read)
            read += len(line)
            if read > HEAD_READ_CEILING:
                return lines, HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
            if line in (b"\r\n", b"\n", b""):
                break
            lines.append(line)
            size += len((line if line[:1] in (b" ", b"\t") else line.partition(b":")[2]).strip())
        if request_line > REQUEST_HEAD_LIMIT:
            return lines, HTTPStatus.REQUEST_URI_TOO_LONG
        if size > REQUEST_HEAD_LIMIT:
            return lines, HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
        return lines, None

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's error answer, as the template's DEFAULT_4XX/5XX gateway response instead of an HTML page."""
        text = ERROR_MESSAGES.get(code) or HTTPStatus(code).phrase
        headers = getattr(self, "headers", None)
        status, response_headers, body = render_gateway_response(
            self.gateway_responses,
            "DEFAULT_5XX" if code >= 500 else "DEFAULT_4XX",
            text,
            code,
            lambda name: headers.get(name) if headers is not None else None,
        )
        self.log_error("code %d, message %s", code, message or text)
        self.close_connection = True  # the rest of what the client sent is not read
        self.request_version = "HTTP/1.1"  # a status line even where http.server assumed HTTP/0.9 (and sends none)
        self.send_response(status, text)
        self.send_header("Connection", "close")
        for name, value in response_headers.items():
            self.send_header(name, value)
        encoded = body.encode("utf-8")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(encoded)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(encoded)


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
        self.aws_url: str | None = None  # the local AWS (moto), whose front door keeps the change events

    # -- gateway responses -----------------------------------------------------------------------------------------
    def gateway_response(self, kind: str, message: str, default_status: int) -> Response:
        status, headers, body = render_gateway_response(
            self.gateway_responses, kind, message, default_status, request.headers.get
        )
        return Response(body, status=status, headers=headers, mimetype="application/json")

    def missing_route(self) -> Response:
        """API Gateway's answer to a path or method no resource defines, before any authorizer (AWS docs, "Gateway
        response types": MISSING_AUTHENTICATION_TOKEN includes "the cases when the client attempts to invoke an
        unsupported API method or resource")."""
        return self.gateway_response("MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token", 403)

    def request_handler(self) -> type[GatewayRequestHandler]:
        """The request handler class to serve this API with (werkzeug's make_server(request_handler=...))."""
        return type("ApiRequestHandler", (GatewayRequestHandler,), {"gateway_responses": self.gateway_responses})

    def create(self) -> None:
        super().create()
        logging.getLogger("samcli.local.apigw.local_apigw_service").addFilter(QuietGatewayResponses())
        self._app.wsgi_app = whole_body(merge_slashes(self._app.wsgi_app), self.gateway_responses)

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

        @self._app.route("/__local/events", methods=["GET", "DELETE"])
        def events() -> Response:
            """The change events put on the bus, oldest first ({source, detailType, detail}); DELETE forgets them."""
            return self._local_aws("/__local/events", request.method)

        @self._app.route("/__local/eventbridge", methods=["GET", "POST"])
        def eventbridge() -> Response:
            """The fault switch: {"fail": true} makes every PutEvents fail until {"fail": false}."""
            return self._local_aws("/__local/eventbridge", request.method, request.get_data())

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

    def _local_aws(self, path: str, method: str, body: bytes | None = None) -> Response:
        import urllib.request

        if not self.aws_url:
            return Response(
                json.dumps({"message": "no local AWS", "code": "not_found"}), 404, mimetype="application/json"
            )
        forwarded = urllib.request.Request(f"{self.aws_url}{path}", data=body or None, method=method)
        with urllib.request.urlopen(forwarded, timeout=5) as answer:
            return Response(answer.read(), status=answer.status, mimetype="application/json")

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
            self._app.register_error_handler(code, lambda *_: self.missing_route())

    def _get_current_route(self, flask_request: Any) -> Any:
        try:
            return super()._get_current_route(flask_request)
        except KeyError:
            # Flask adds HEAD to every GET rule, SAM has no route for it; API Gateway does not add HEAD (a method the
            # resource does not define is MISSING_AUTHENTICATION_TOKEN, before the authorizer).
            raise GatewayResponded(self.missing_route()) from None

    def _generate_lambda_event(self, flask_request: Any, route: Any, method: str, endpoint: str) -> dict[str, Any]:
        try:
            return super()._generate_lambda_event(flask_request, route, method, endpoint)
        except UnicodeDecodeError:  # a body that is not UTF-8: passed on with U+FFFD, as API Gateway does
            return super()._generate_lambda_event(_AsUtf8Text(flask_request), route, method, endpoint)

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
