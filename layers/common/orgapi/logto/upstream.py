"""The one place where what Logto said (or that it said nothing) becomes one of our API errors.

Operations first decide what an answer means for their change (a 404 on a retried DELETE is success, a lost create
answer is looked up); whatever they leave unhandled reaches the handler, which maps it here. Logto's message and
details are never used: only its status and `code`.
"""

from __future__ import annotations

import math

from orgapi.base.errors import (
    ApiError,
    BadRequest,
    Conflict,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    Unprocessable,
    UpstreamError,
    UpstreamTimeout,
)
from orgapi.logto.http import LogtoError, NoAnswer


def _seconds(value: float | None, default: int) -> int:
    return max(1, math.ceil(value)) if value is not None else default


def api_error(failure: LogtoError | NoAnswer) -> ApiError:
    if isinstance(failure, NoAnswer):
        return _no_answer(failure)
    status, code = failure.status, failure.code
    if status == 400:
        return BadRequest("The identity provider rejected the request as invalid", code="invalid_request")
    if status == 403 and "limit_exceeded" in code:
        return Unprocessable("An identity provider quota or limit was reached", code="limit_exceeded")
    if status in (401, 403):
        return UpstreamError("The service is not authorized at the identity provider", code="logto_auth_failed")
    if status == 404:
        return NotFound()
    if status in (409, 422):
        if code == "entity.unique_integrity_violation":
            return Conflict("It already exists", code="already_exists")
        if code == "entity.relation_foreign_key_not_found":
            return Unprocessable("A referenced user, role or organization does not exist", code="unknown_reference")
        if code == "organization.require_membership":
            return NotFound("The user is not a member of this organization", code="member_not_found")
        if code == "organization.role_names_not_found":
            return Unprocessable("A role name does not exist", code="unknown_role")
        return Unprocessable("The identity provider refused the change", code="rejected")
    if status == 429:
        return RateLimited(retry_after=_seconds(failure.retry_after, 1))
    if status == 503:
        return ServiceUnavailable(
            "The identity provider is unavailable",
            code="logto_unavailable",
            retry_after=_seconds(failure.retry_after, 5),
        )
    if status == 504:
        return UpstreamTimeout()
    return UpstreamError()


def _no_answer(failure: NoAnswer) -> ApiError:
    if failure.reason == "unreachable" and not failure.maybe_applied:
        return ServiceUnavailable("The identity provider is unreachable", code="logto_unreachable", retry_after=2)
    if failure.reason in ("timeout", "slow_body", "no_time"):
        return UpstreamTimeout()
    if failure.reason == "oversized":
        return UpstreamError("The identity provider sent an oversized response", code="logto_bad_response")
    if failure.reason == "bad_answer":
        return UpstreamError("The identity provider sent an answer that could not be read", code="logto_bad_response")
    return UpstreamError()
