"""The per-process objects every operation shares (settings, HTTP session, M2M token cache, Logto client, role cache).

Built once per execution environment, at cold start, so module memory carries the M2M token across invocations.
"""

from __future__ import annotations

import os
from contextlib import suppress
from dataclasses import dataclass
from functools import cache

from orgapi.base.aws_clients import AwsClients
from orgapi.base.config import Settings, load_settings
from orgapi.base.errors import ConfigError
from orgapi.base.observability import logger, metrics
from orgapi.logto.http import HttpSender
from orgapi.logto.m2m import M2MTokenProvider
from orgapi.logto.management import ManagementApi
from orgapi.logto.secrets import CredentialsUnavailable, load_m2m_credentials
from orgapi.operations.limits import RateWindows
from orgapi.outcomes.audit import AuditTrail
from orgapi.outcomes.cleanup import CleanupStore
from orgapi.rules.access import AccessResolver, LiveMode
from orgapi.rules.lease import LeaseStore
from orgapi.rules.role_directory import RoleDirectory


@dataclass(frozen=True)
class Services:
    """The objects one execution environment shares across its requests."""

    settings: Settings
    logto: ManagementApi
    roles: RoleDirectory
    tokens: M2MTokenProvider
    access: AccessResolver
    lease_store: LeaseStore | None
    cleanups: CleanupStore | None = None  # where compensations that could not finish are recorded (CLEANUP_TABLE)
    audit: AuditTrail | None = None  # the audit trail and change events (AUDIT_TABLE, EVENT_BUS_NAME)
    rate_windows: RateWindows | None = (
        None  # the rate limits' places (orgapi.operations.limits), in the IDEMPOTENCY_TABLE
    )

    def leases(self) -> LeaseStore:
        if self.lease_store is None:  # build_handler checks this at cold start for the routes that need it
            raise ConfigError("IDEMPOTENCY_TABLE is not set")
        return self.lease_store


def _count_retry(reason: str) -> None:
    metrics.add_metric(name="LogtoRetry", unit="Count", value=1)
    logger.info("logto_retry", extra={"reason": reason})


@cache
def services() -> Services:
    settings = load_settings(require=("M2M_SECRET_ID",))

    def credentials(force: bool):
        return load_m2m_credentials(settings.m2m_secret_id, settings.m2m_secret_max_age_seconds, force)

    sender = HttpSender(on_retry=_count_retry)
    tokens = M2MTokenProvider(settings, sender, credentials)
    logto = ManagementApi(settings, sender, tokens)
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        # Read the secret during init: a missing or malformed secret is logged at startup, not first seen by a user.
        # A failure here is not fatal; requests then answer 503 until the secret is fixed.
        with suppress(CredentialsUnavailable):
            credentials(False)
    roles = RoleDirectory(logto, settings.api_resource, settings.role_cache_seconds)
    access = AccessResolver(logto, roles, settings.api_resource, LiveMode(settings.live_permissions))
    aws = AwsClients()  # one DynamoDB client for the lease, the limits, the clean-ups and the audit trail
    leases = LeaseStore(settings.state_table, clients=aws) if settings.state_table else None
    cleanups = CleanupStore(settings.cleanup_table, clients=aws) if settings.cleanup_table else None
    audit = (
        AuditTrail(settings.audit_table, settings.event_bus or "default", settings.audit_retention_days, clients=aws)
        if settings.audit_table
        else None
    )
    windows = RateWindows(settings.state_table, clients=aws) if settings.state_table else None
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        # Made during init, as the secret is read: the first DynamoDB client costs ≈ 100 ms (boto3's session, its
        # endpoint rules, the service model), which the first write request would otherwise wait for.
        aws.prepare(*(["dynamodb"] if leases or cleanups or audit or windows else []), *(["events"] if audit else []))
    return Services(settings, logto, roles, tokens, access, leases, cleanups, audit, windows)
