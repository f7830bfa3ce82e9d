"""Error types. Every error a client can see is an ApiError with a stable `code`; handlers map it to JSON."""

from __future__ import annotations


class ConfigError(RuntimeError):
    """A missing or invalid environment variable, raised at cold start so the function fails loudly."""


class ApiError(Exception):
    """An error with an HTTP status, a stable machine-readable code and a message safe to show a client."""

    status = 500
    code = "internal_error"
    message = "Internal server error"

    def __init__(self, message: str | None = None, *, code: str | None = None, retry_after: int | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.code = code or self.code
        self.retry_after = retry_after

    def body(self) -> dict[str, str]:
        return {"message": self.message, "code": self.code}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


class BadRequest(ApiError):
    status, code, message = 400, "bad_request", "The request is invalid"


class Unauthorized(ApiError):
    status, code, message = 401, "unauthorized", "Unauthorized"


class Forbidden(ApiError):
    status, code, message = 403, "forbidden", "Forbidden"


class NotFound(ApiError):
    status, code, message = 404, "not_found", "Not found"


class Conflict(ApiError):
    status, code, message = 409, "conflict", "The request conflicts with the current state"


class Unprocessable(ApiError):
    status, code, message = 422, "unprocessable", "The request cannot be processed"


class RateLimited(ApiError):
    status, code, message = 429, "rate_limited", "Too many requests; retry later"


class UpstreamError(ApiError):
    status, code, message = 502, "logto_error", "The identity provider failed to handle the request"


class ServiceUnavailable(ApiError):
    status, code, message = 503, "unavailable", "The service is temporarily unavailable"


class UpstreamTimeout(ApiError):
    status, code, message = 504, "logto_timeout", "The identity provider did not answer in time"
