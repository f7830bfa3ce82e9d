"""HTTP to Logto: timeouts inside the time budget (the body included), bounded retries with backoff and jitter,
Retry-After honoured, no redirects.

This layer only reports what happened: an answer (`LogtoResponse`, any status), or `NoAnswer` when none arrived in
time. Logto compresses every answer of 1 KB or more (koa-compress in packages/core/src/tenants/Tenant.ts), so bodies
are decoded here, with the size cap on the decoded bytes. `LogtoError` is a non-2xx answer reduced to its status and
Logto's `code` (never its message or body). Deciding what an answer means for a change is the caller's job; mapping
what is left to our API errors happens in one place, `orgapi.logto.upstream.api_error`.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import random
import re
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

from orgapi.base.spared_imports import sparing

# urllib3 imports importlib.metadata for its HTTP/2 opt-in, which we never make (see spared_imports).
with sparing({"importlib.metadata": ("version",)}):
    import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, ReadTimeoutError

from orgapi.base.deadline import Deadline

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset(
    {"GET", "HEAD", "PUT", "DELETE", "PATCH"}
)  # our PATCH sets fields: repeating it is harmless
MAX_RESPONSE_BYTES = 5 * 1024 * 1024
CONNECT_TIMEOUT, READ_TIMEOUT = 3.05, 8.0
_ASCII_DIGITS = re.compile(r"^[0-9]{1,10}$")  # str.isdigit() accepts "²" and "٣", which float() refuses

# What we offer Logto. Not `br`: the Lambda runtime has no brotli decoder, and koa-compress then picks gzip.
ACCEPT_ENCODING = "gzip, deflate"

NoAnswerReason = Literal["unreachable", "timeout", "connection_lost", "slow_body", "oversized", "no_time", "bad_answer"]


class NoAnswer(Exception):
    """No usable answer arrived. `maybe_applied`: the request (or an earlier attempt of it) may have been carried out
    by Logto all the same (it was sent and its answer was lost); False only when nothing reached Logto.

    `bad_answer`: an answer arrived but is not what Logto sends (a body that does not decode or parse, or has the wrong
    shape). For a write that answered 2xx it is a lost answer of a change that may well have happened."""

    def __init__(self, reason: NoAnswerReason, *, maybe_applied: bool):
        super().__init__(reason)
        self.reason, self._maybe_applied = reason, maybe_applied
        self.looked_up = False  # set by orgapi.outcomes.changes.settled once Logto was read and showed no such change

    @property
    def maybe_applied(self) -> bool:
        return self._maybe_applied and not self.looked_up

    @property
    def may_land_later(self) -> bool:
        """Sent, and no answer came (timed out, or the connection went): Logto may still be carrying it out, and it
        may land after this, whatever a look-up found now. (An answer that arrived, even unreadable, is the end.)"""
        return self._maybe_applied and self.reason in ("timeout", "connection_lost")


class LogtoError(Exception):
    """Logto answered with a non-2xx status. Only the status, Logto's `code` and Retry-After are kept.

    `maybe_applied`: this call may have changed Logto anyway: a 5xx (an answer lost behind a proxy looks like one), or
    an earlier attempt of the same call whose answer was lost (then this status describes the state *after* it)."""

    def __init__(
        self,
        status: int,
        code: str,
        *,
        retry_after: float | None = None,
        after_lost_answer: bool = False,
        after_unanswered: bool = False,
    ):
        super().__init__(f"{status} {code}")
        self.status, self.code, self.retry_after = status, code, retry_after
        self.after_lost_answer = after_lost_answer
        self.after_unanswered = after_unanswered  # an earlier attempt got no answer at all (see may_land_later)
        self.looked_up = False  # set by orgapi.outcomes.changes.settled once Logto was read and showed no such change

    @property
    def maybe_applied(self) -> bool:
        return (self.after_lost_answer or answer_may_be_lost(self.status)) and not self.looked_up

    @property
    def may_land_later(self) -> bool:
        """An earlier attempt went unanswered, or a gateway answered for a Logto that may still be working (502,
        504): the change may land after this, whatever a look-up found now. Logto's own 500 ends its work."""
        return self.after_unanswered or self.status in (502, 504)

    @classmethod
    def of(cls, response: LogtoResponse) -> LogtoError:
        return cls(
            response.status,
            logto_code(response.body),
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            after_lost_answer=response.after_lost_answer,
            after_unanswered=response.after_unanswered,
        )


@dataclass(frozen=True)
class RetryPolicy:
    """How often, and how far apart, a request to Logto is tried again."""

    max_attempts: int = 3
    base_delay: float = 0.1
    max_delay: float = 2.0

    def backoff(self, attempt: int, rand: Callable[[], float]) -> float:
        """Full jitter: uniform in [0, min(max, base * 2^attempt)] (AWS Builders' Library)."""
        return rand() * min(self.max_delay, self.base_delay * 2**attempt)


@dataclass
class LogtoResponse:
    """An answer from Logto: status, headers and the decoded JSON body."""

    status: int
    headers: Mapping[str, str]
    body: Any
    # An earlier attempt of this call was sent and its answer lost (5xx, timeout, reset): it may have been carried
    # out, so this answer may describe the state our own earlier attempt left (e.g. a DELETE now answering 404).
    after_lost_answer: bool = False
    # An earlier attempt got no answer at all, or a gateway's 502/504: it may still land after this answer.
    after_unanswered: bool = False
    # False when a body arrived but is not JSON (None is then only a placeholder, never "nothing"). Logto's empty
    # successes (204, 201 "Created") are fine for calls that read no body; readers of a body check this.
    readable: bool = True

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def answer_may_be_lost(status: int) -> bool:
    """A 5xx may stand for an answer lost after the work was done (a proxy's 502/504, a crash mid-way: 500). Not a 503:
    Logto's core never answers it (no 503 in packages/core/src), so it comes from what stands in front of Logto (a
    load balancer, Logto Cloud's edge) turning the request away unserved."""
    return status >= 500 and status != 503


def logto_code(body: Any) -> str:
    code = body.get("code") if isinstance(body, dict) else None
    return code[:100] if isinstance(code, str) else ""


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    if not value:
        return None
    value = value.strip()
    if _ASCII_DIGITS.match(value):
        return float(value)
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, parsed.timestamp() - now())


class _Inflater:
    """Decodes a `Content-Encoding` of gzip or deflate chunk by chunk, never producing more than asked for, so a small
    body that inflates to gigabytes costs at most the size cap in memory. (zlib directly, not urllib3's decoders: those
    cannot tell a stream cut short from a finished one, and a truncated answer must count as a lost one.)"""

    def __init__(self, encoding: str):
        self.encoding = encoding
        # deflate is meant to be zlib-wrapped (koa-compress sends that); some servers send it raw: told on first bytes
        self._obj = zlib.decompressobj(zlib.MAX_WBITS | 16 if encoding == "gzip" else zlib.MAX_WBITS)
        self._started = False

    def feed(self, data: bytes, limit: int) -> bytes:
        """At most `limit` decoded bytes of `data`. Filling `limit` means the body is at least that large: the caller
        asks for one byte more than it accepts, so the rest of the input never needs decoding."""
        try:
            out = self._obj.decompress(data, limit)
        except zlib.error:
            if self._started or self.encoding != "deflate":
                raise
            self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self._obj.decompress(data, limit)
        self._started = True
        return out

    @property
    def finished(self) -> bool:
        return self._obj.eof


def _inflater_for(headers: Mapping[str, str]) -> _Inflater | None:
    encoding = (headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding == "identity":
        return None
    if encoding in ("gzip", "x-gzip"):
        return _Inflater("gzip")
    if encoding == "deflate":
        return _Inflater("deflate")
    raise NoAnswer("bad_answer", maybe_applied=True)  # an encoding we never offered: nothing we can read


def _read_body(raw_response: urllib3.BaseHTTPResponse, deadline: Deadline) -> tuple[Any, bool]:
    """Read and decode the body within the deadline: each read waits at most the remaining budget (a body dripping in
    byte by byte would otherwise keep the Lambda busy until it is killed), and the decoded size is capped.

    Returns (parsed JSON or None when empty, whether the body was readable)."""
    inflater = _inflater_for(raw_response.headers)
    chunks, size, received = [], 0, False
    while True:
        remaining = deadline.remaining()
        if remaining <= 0:
            raise NoAnswer("slow_body", maybe_applied=True)
        sock = getattr(getattr(raw_response, "connection", None), "sock", None)
        if sock is not None:
            sock.settimeout(min(READ_TIMEOUT, remaining))
        try:
            chunk = raw_response.read1(64 * 1024, decode_content=False)
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
            slow = isinstance(exc, (urllib3.exceptions.TimeoutError, TimeoutError))
            raise NoAnswer("slow_body" if slow else "connection_lost", maybe_applied=True) from None
        if not chunk:
            break
        received = True
        if inflater is not None:
            try:
                chunk = inflater.feed(chunk, MAX_RESPONSE_BYTES - size + 1)
            except zlib.error:
                raise NoAnswer("bad_answer", maybe_applied=True) from None
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise NoAnswer("oversized", maybe_applied=True)
        chunks.append(chunk)
    if inflater is not None and received and not inflater.finished:
        raise NoAnswer("connection_lost", maybe_applied=True)  # a compressed stream cut short: the answer is lost
    raw = b"".join(chunks)
    if not raw:
        return None, True
    try:
        return json.loads(raw), True
    except ValueError:
        return None, False


def _encoded(
    url: str,
    params: Mapping[str, Any] | None,
    json_body: Any,
    data: Mapping[str, str] | None,
    headers: Mapping[str, str] | None,
) -> tuple[str, bytes | None, dict[str, str]]:
    """The URL with its query, the body and the headers of one request (a query leaves out None values)."""
    all_headers = {"Accept-Encoding": ACCEPT_ENCODING, **(headers or {})}
    query = urlencode([(k, v) for k, v in (params or {}).items() if v is not None], doseq=True)
    if query:
        url = f"{url}{'&' if '?' in url else '?'}{query}"
    body = None
    if json_body is not None:
        body = json.dumps(json_body, allow_nan=False).encode()
        all_headers["Content-Type"] = "application/json"
    elif data is not None:
        body = urlencode(data).encode()
        all_headers["Content-Type"] = "application/x-www-form-urlencoded"
    return url, body, all_headers


class HttpSender:
    """Sends one logical request, retrying what a retry can fix, within the caller's deadline.

    urllib3 directly, not requests: requests adds nothing used here (no cookies, no redirects, no proxies from the
    environment, no charset guessing) and costs ~20 ms of every function's cold start (issue 22)."""

    def __init__(
        self,
        pool: urllib3.PoolManager | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        on_retry: Callable[[str], None] | None = None,
    ):
        # Retries are ours (below), redirects are refused; TLS is verified (urllib3's default). `maxsize`: the reads
        # a request makes side by side (orgapi.base.side_by_side) each keep a connection to Logto for the next one.
        self.pool = pool or urllib3.PoolManager(maxsize=10, retries=False)
        self.policy = policy or RetryPolicy()
        self._sleep, self._rand, self._on_retry = sleep, rand, on_retry

    def send(
        self,
        method: str,
        url: str,
        *,
        deadline: Deadline,
        retry_unsafe: bool = False,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> LogtoResponse:
        """The last answer (any status), or NoAnswer. A POST is repeated only when nothing reached Logto, on 429
        (Logto's rate limit turns a request away before it runs) or with `retry_unsafe` (the caller says a repeat
        is harmless)."""
        safe = method in IDEMPOTENT_METHODS or retry_unsafe
        url, body, all_headers = _encoded(url, params, json, data, headers)
        attempts = self.policy.max_attempts
        lost = False  # an earlier attempt was sent and its answer lost: it may have been carried out
        unanswered = False  # ... and no answer came for it at all: it may even land later (LogtoError.may_land_later)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            remaining = deadline.remaining()
            if remaining <= 0.05:
                raise NoAnswer("no_time", maybe_applied=lost)
            try:
                response = self.pool.request(
                    method,
                    url,
                    body=body,
                    headers=all_headers,
                    timeout=urllib3.Timeout(connect=min(CONNECT_TIMEOUT, remaining), read=min(READ_TIMEOUT, remaining)),
                    retries=False,
                    redirect=False,
                    preload_content=False,
                    decode_content=False,
                )
            except ReadTimeoutError:
                lost = unanswered = True
                if last or not safe or not self._pause(self.policy.backoff(attempt, self._rand), deadline, "timeout"):
                    raise NoAnswer("timeout", maybe_applied=True) from None
                continue
            except (HTTPError, http.client.HTTPException, OSError) as exc:
                # Refused or timed out while connecting (NewConnectionError is a ConnectTimeoutError): the request
                # never reached Logto, so even a POST may be retried. Anything later: it may have been received.
                if isinstance(exc, ConnectTimeoutError):
                    reason: NoAnswerReason = "unreachable"
                else:
                    reason, lost, unanswered = "connection_lost", True, True
                    if not safe:
                        raise NoAnswer(reason, maybe_applied=True) from None
                if last or not self._pause(self.policy.backoff(attempt, self._rand), deadline, "connection"):
                    raise NoAnswer(reason, maybe_applied=lost) from None
                continue
            try:
                answer, readable = _read_body(response, deadline)
            except BaseException:
                response.close()  # a body left half-read must not go back to the pool
                raise
            finally:
                response.release_conn()
            # urllib3's headers are case-insensitive: "retry-after" and "Retry-After" are the same header.
            result = LogtoResponse(
                response.status,
                response.headers,
                answer,
                after_lost_answer=lost,
                readable=readable,
                after_unanswered=unanswered,
            )
            if result.status in RETRYABLE_STATUSES and (safe or result.status == 429) and not last:
                retry_after = parse_retry_after(result.headers.get("Retry-After"))
                delay = retry_after if retry_after is not None else self.policy.backoff(attempt, self._rand)
                if self._pause(delay, deadline, str(result.status)):
                    lost = lost or answer_may_be_lost(result.status)
                    unanswered = unanswered or result.status in (502, 504)
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
