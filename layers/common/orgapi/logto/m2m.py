"""The M2M access token for the Management API: client-credentials grant, cached in module memory across invocations
until shortly before it expires, single-flight, refreshed with a re-read secret when Logto rejects the credentials.

Rejected credentials are cached too (negative caching): after Logto refused both the cached and a freshly read secret,
every request for `rejected_cooldown` seconds answers 503 with Retry-After at once, without reading the secret or
calling Logto (a broken secret must not turn each client request into a secret read and two token requests).
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from urllib.parse import quote

from orgapi.base.config import Settings
from orgapi.base.deadline import Deadline
from orgapi.base.errors import ServiceUnavailable, UpstreamError
from orgapi.base.observability import logger, metrics
from orgapi.logto.http import HttpSender, LogtoError, NoAnswer
from orgapi.logto.secrets import M2MCredentials
from orgapi.logto.upstream import api_error

# Renew this long before `expires_in` runs out (measured from when the token request started), so a token is never
# used in its last seconds by a request that takes a while.
EXPIRY_SKEW_SECONDS = 60


class M2MTokenProvider:
    def __init__(
        self,
        settings: Settings,
        sender: HttpSender,
        load_credentials: Callable[[bool], M2MCredentials],
        clock: Callable[[], float] = time.monotonic,
    ):
        self._settings, self._sender, self._load_credentials, self._clock = settings, sender, load_credentials, clock
        self._cooldown = settings.m2m_rejected_cooldown_seconds
        self._token: str | None = None
        self._expires_at = 0.0
        self._rejected_until = 0.0  # credentials refused (cached and re-read secret alike) until then
        self._forced_read_at: float | None = None
        self._lock = threading.Lock()
        self.fetches = 0  # token requests made by this process (bench and tests read it)

    def token(self, deadline: Deadline) -> str:
        token = self._valid_token()
        if token:
            return token
        with self._lock:  # single flight: concurrent callers wait for one token request
            token = self._valid_token()
            if token:
                return token
            self._refuse_while_rejected()
            return self._fetch(deadline)

    def _refuse_while_rejected(self) -> None:
        wait = self._rejected_until - self._clock()
        if wait > 0:
            raise ServiceUnavailable(
                "The service cannot authenticate at the identity provider; retry later",
                code="logto_auth_failed",
                retry_after=max(1, int(wait + 0.999)),
            )

    def invalidate(self, rejected: str | None = None) -> None:
        """Drop the cached token (after a Management API 401), unless another caller already replaced it."""
        with self._lock:
            if rejected is None or rejected == self._token:
                self._token, self._expires_at = None, 0.0

    def _valid_token(self) -> str | None:
        return self._token if self._token and self._clock() < self._expires_at else None

    def _fetch(self, deadline: Deadline) -> str:
        credentials = self._load_credentials(False)
        response, started = self._request(credentials, deadline)
        if response.status in (400, 401) and _is_invalid_client(response.body) and self._may_force_read():
            # The cached secret may have been rotated: read it again, bypassing the cache, and try once more
            # (at most once per cooldown: a secret that stays wrong is not re-read on every request).
            logger.warning("m2m_credentials_rejected", extra={"status": response.status})
            self._forced_read_at = self._clock()
            credentials = self._load_credentials(True)
            response, started = self._request(credentials, deadline)
        if not response.ok:
            logger.error("m2m_token_request_failed", extra={"status": response.status})
            if response.status in (400, 401, 403):
                if _is_invalid_client(response.body):
                    self._rejected_until = self._clock() + self._cooldown
                    metrics.add_metric(name="M2MCredentialsRejected", unit="Count", value=1)
                    self._refuse_while_rejected()
                raise UpstreamError(
                    "The service cannot authenticate at the identity provider", code="logto_auth_failed"
                )
            raise api_error(LogtoError.of(response))
        body = response.body if isinstance(response.body, dict) else {}
        token, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token:
            raise UpstreamError("The identity provider sent no access token", code="logto_bad_response")
        if body.get("scope") != "all":
            # Without the Management API `all` permission every call will fail with 403 (Logto issues the token anyway).
            logger.warning("m2m_token_scope_not_all", extra={"scope": str(body.get("scope"))[:100]})
        if (
            isinstance(expires_in, (int, float))
            and not isinstance(expires_in, bool)
            and expires_in > 2 * EXPIRY_SKEW_SECONDS
        ):
            self._token, self._expires_at = token, started + expires_in - EXPIRY_SKEW_SECONDS
        else:  # no or very short lifetime: use it for this request only
            self._token, self._expires_at = None, 0.0
        return token

    def _may_force_read(self) -> bool:
        return self._forced_read_at is None or self._clock() - self._forced_read_at >= self._cooldown

    def _request(self, credentials: M2MCredentials, deadline: Deadline):
        self.fetches += 1
        metrics.add_metric(name="M2MTokenFetch", unit="Count", value=1)
        basic = base64.b64encode(
            f"{quote(credentials.app_id, safe='')}:{quote(credentials.app_secret, safe='')}".encode()
        ).decode()
        started = self._clock()
        try:
            response = self._sender.send(
                "POST",
                self._settings.token_url,
                deadline=deadline,
                retry_unsafe=True,  # a token request creates nothing, so repeating it is safe
                headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
                data={
                    "grant_type": "client_credentials",
                    "resource": self._settings.management_api_resource,
                    "scope": "all",
                },
            )
        except NoAnswer as lost:
            # No token means the Management API call was never sent: the change certainly did not happen.
            raise api_error(NoAnswer(lost.reason, maybe_applied=False)) from None
        return response, started


def _is_invalid_client(body: object) -> bool:
    return isinstance(body, dict) and (
        body.get("error") == "invalid_client" or body.get("code") == "oidc.invalid_client"
    )
