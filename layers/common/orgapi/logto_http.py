"""HTTP to Logto: timeouts inside the time budget, bounded retries with backoff and jitter, Retry-After honoured,
no redirects, and Logto errors mapped to our own (Logto's bodies are read for their `code`, never passed on)."""

from __future__ import annotations

import email.utils
import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import NewConnectionError

from orgapi.deadline import Deadline
from orgapi.errors import (
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

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset(
    {"GET", "HEAD", "PUT", "DELETE", "PATCH"}
)  # our PATCH sets fields: repeating it is harmless
MAX_RESPONSE_BYTES = 5 * 1024 * 1024
CONNECT_TIMEOUT, READ_TIMEOUT = 3.05, 8.0


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    base_delay: float = 0.1
    max_delay: float = 2.0

    def backoff(self, attempt: int, rand: Callable[[], float]) -> float:
        """Full jitter: uniform in [0, min(max, base * 2^attempt)] (AWS Builders' Library)."""
        return rand() * min(self.max_delay, self.base_delay * 2**attempt)


@dataclass
class LogtoResponse:
    status: int
    headers: Mapping[str, str]
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, parsed.timestamp() - now())


def _nothing_was_sent(exc: requests.ConnectionError) -> bool:
    """Connection refused or connect timeout: the request never reached Logto, so even a POST may be retried."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    return isinstance(getattr(reason, "reason", None), NewConnectionError) or isinstance(reason, NewConnectionError)


def _read_body(response: requests.Response) -> Any:
    chunks, size = [], 0
    for chunk in response.iter_content(64 * 1024):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise UpstreamError("The identity provider sent an oversized response", code="logto_bad_response")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


class HttpSender:
    """Sends one logical request, retrying what a retry can fix, within the caller's deadline."""

    def __init__(
        self,
        session: requests.Session | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        on_retry: Callable[[str], None] | None = None,
    ):
        self.session = session or requests.Session()
        self.session.trust_env = False  # no proxy or netrc surprises from the environment; TLS verification stays on
        self.policy = policy or RetryPolicy()
        self._sleep, self._rand, self._on_retry = sleep, rand, on_retry

    def send(
        self, method: str, url: str, *, deadline: Deadline, retry_unsafe: bool = False, **kwargs: Any
    ) -> LogtoResponse:
        safe = method in IDEMPOTENT_METHODS or retry_unsafe
        attempts = self.policy.max_attempts
        for attempt in range(attempts):
            last = attempt == attempts - 1
            remaining = deadline.remaining()
            if remaining <= 0.05:
                raise UpstreamTimeout()
            try:
                response = self.session.request(
                    method,
                    url,
                    timeout=(min(CONNECT_TIMEOUT, remaining), min(READ_TIMEOUT, remaining)),
                    allow_redirects=False,
                    stream=True,
                    **kwargs,
                )
                try:
                    # Header names stay case-insensitive: "retry-after" and "Retry-After" are the same header.
                    result = LogtoResponse(
                        response.status_code, CaseInsensitiveDict(response.headers), _read_body(response)
                    )
                finally:
                    response.close()
            except requests.ConnectionError as exc:
                if not (safe or _nothing_was_sent(exc)):
                    # A POST that may have reached Logto is not repeated blindly (it could create twice).
                    raise UpstreamError() from None
                error: ApiError = ServiceUnavailable(
                    "The identity provider is unreachable", code="logto_unreachable", retry_after=2
                )
                if last or not self._pause(self.policy.backoff(attempt, self._rand), deadline, "connection"):
                    raise error from None
                continue
            except requests.Timeout:
                if last or not safe or not self._pause(self.policy.backoff(attempt, self._rand), deadline, "timeout"):
                    raise UpstreamTimeout() from None
                continue
            if result.status in RETRYABLE_STATUSES and (safe or result.status == 429) and not last:
                retry_after = parse_retry_after(result.headers.get("Retry-After"))
                delay = retry_after if retry_after is not None else self.policy.backoff(attempt, self._rand)
                if self._pause(delay, deadline, str(result.status)):
                    continue
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _pause(self, delay: float, deadline: Deadline, reason: str) -> bool:
        """Sleep before a retry if the budget allows the wait plus a useful attempt; False means give up now."""
        if delay + 0.2 > deadline.remaining():
            return False
        if self._on_retry:
            self._on_retry(reason)
        self._sleep(delay)
        return True


def _logto_code(body: Any) -> str:
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else ""


def error_for(response: LogtoResponse) -> ApiError:
    """Map a failed Logto response to our error. Logto's message and details are deliberately not used."""
    status, code = response.status, _logto_code(response.body)
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    retry = int(retry_after + 0.999) if retry_after is not None else None
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
        return RateLimited(retry_after=retry or 1)
    if status == 503:
        return ServiceUnavailable(
            "The identity provider is unavailable", code="logto_unavailable", retry_after=retry or 5
        )
    if status == 504:
        return UpstreamTimeout()
    return UpstreamError()
