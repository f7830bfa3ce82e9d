"""Configuration from environment variables, validated once at cold start.

The variables are the contract's configuration table plus a few tunables with safe defaults. A missing or invalid
value raises ConfigError naming the variable, so a misconfigured function fails at init with a clear log line
instead of answering requests wrongly.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from orgapi.base.cors import CorsPolicy, parse_allowed_origins
from orgapi.base.errors import ConfigError

_CLOUD_HOST = re.compile(r"^([a-z0-9]+)\.logto\.app$")
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
_PERMISSION_NAME = re.compile(r"^[^\s]{1,128}$")
INVITATION_PLACEHOLDER = "{invitationId}"
_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")  # DynamoDB's rule for table names
_SECRET_ID = re.compile(r"^[A-Za-z0-9/_+=.@:-]{1,2048}$")  # a secret name or ARN
_EVENT_BUS = re.compile(
    r"^(?:arn:[a-z-]+:events:[a-z0-9-]+:\d{12}:event-bus/)?[A-Za-z0-9._/-]{1,256}$"
)  # a name or ARN
_RESOURCE = re.compile(r"^\S{1,256}$")


# The limits' variables and their defaults (CONTRACT.md "Limits"; 0 = no limit); Settings' fields are these, lower-case.
LIMITS = {
    "MAX_ORGS_CREATED_PER_USER_PER_DAY": 10,
    "MAX_MEMBERS_PER_ORG": 500,
    "MAX_PENDING_INVITATIONS_PER_ORG": 100,
    "MAX_INVITATION_EMAILS_PER_ORG_PER_DAY": 200,
    "MAX_INVITATION_EMAILS_PER_INVITEE_PER_DAY": 5,
}
MAX_LIMIT = 5000


@dataclass(frozen=True)
class Settings:
    """The function's configuration, read from its environment and checked once per container."""

    logto_endpoint: str
    issuer: str
    management_api_resource: str
    api_resource: str
    m2m_secret_id: str
    creator_role: str
    # Default permission name -> this deployment's name (PERMISSION_OVERRIDES), e.g. {"member:read": "read:members"}.
    permission_overrides: Mapping[str, str] = field(default_factory=dict)
    # ALLOWED_ORIGINS: which browser origins may read the answers (empty: no CORS headers at all).
    cors: CorsPolicy = field(default_factory=CorsPolicy)
    # Tolerance for the issuer's clock running ahead of ours (iat/nbf). `exp` gets none: expired means expired.
    clock_skew_seconds: int = 60
    # How long a fetched key set is trusted before it is fetched again, so a key Logto deleted stops verifying.
    jwks_max_age_seconds: int = 300
    # An unknown kid may trigger at most one JWKS fetch per this many seconds (a flood of random kids can't hammer Logto).
    jwks_refresh_cooldown_seconds: int = 30
    # When a refresh fails, a stale key set is still used for this long (availability over a short Logto outage).
    jwks_stale_grace_seconds: int = 3600
    jwks_timeout_seconds: float = 3.0
    m2m_secret_max_age_seconds: int = 300
    # After Logto refused the M2M credentials (cached and freshly read secret alike), answer 503 this long without
    # reading the secret or calling Logto again.
    m2m_rejected_cooldown_seconds: int = 30
    role_cache_seconds: int = 60
    # When operations re-derive the caller's permissions from Logto: writes | all | off (access.py).
    live_permissions: str = "writes"
    # The stack's DynamoDB table (idempotency records, per-organization leases); only some functions need it.
    state_table: str = ""
    # INVITATION_LINK: URL template with {invitationId}; None means invitations are not e-mailed.
    invitation_link: str | None = None
    # Pending clean-ups (compensations to finish later, orgapi.outcomes.cleanup): create_organization, add_members, run_cleanups.
    cleanup_table: str = ""
    # The audit trail (orgapi.outcomes.audit): its table, the EventBridge bus its events go to, and how long entries are kept.
    audit_table: str = ""
    event_bus: str = ""
    audit_retention_days: int = 90
    # Limits (orgapi.operations.limits; 0 = no limit): count limits per organization, rate limits per 24 hours.
    max_orgs_created_per_user_per_day: int = LIMITS["MAX_ORGS_CREATED_PER_USER_PER_DAY"]
    max_members_per_org: int = LIMITS["MAX_MEMBERS_PER_ORG"]
    max_pending_invitations_per_org: int = LIMITS["MAX_PENDING_INVITATIONS_PER_ORG"]
    max_invitation_emails_per_org_per_day: int = LIMITS["MAX_INVITATION_EMAILS_PER_ORG_PER_DAY"]
    max_invitation_emails_per_invitee_per_day: int = LIMITS["MAX_INVITATION_EMAILS_PER_INVITEE_PER_DAY"]

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/jwks"

    @property
    def token_url(self) -> str:
        return f"{self.logto_endpoint}/oidc/token"

    @property
    def management_api_url(self) -> str:
        return f"{self.logto_endpoint}/api"


def _get(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def _url(env: Mapping[str, str], name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"{name} must be an absolute http(s) URL without query, got {value!r}")
    # Plain http only where nothing crosses a network: a loopback Logto or the local emulator.
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS and env.get("AWS_SAM_LOCAL") != "true":
        raise ConfigError(f"{name} must use https outside local runs, got {value!r}")
    return value.rstrip("/")


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = _get(env, name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = _get(env, name) or choices[0]
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = _get(env, name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:  # also refuses nan
        raise ConfigError(f"{name} must be between {low} and {high}, got {raw}")
    return value


def _matching(env: Mapping[str, str], name: str, pattern: re.Pattern[str], what: str) -> str:
    value = _get(env, name)
    if value and not pattern.match(value):
        raise ConfigError(f"{name} must be {what}")
    return value


def _overrides(env: Mapping[str, str]) -> dict[str, str]:
    raw = _get(env, "PERMISSION_OVERRIDES")
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise ConfigError("PERMISSION_OVERRIDES must be a JSON object") from None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and _PERMISSION_NAME.match(v) for k, v in value.items()
    ):
        raise ConfigError("PERMISSION_OVERRIDES must map permission names to non-empty names without spaces")
    return value


def _invitation_link(env: Mapping[str, str]) -> str | None:
    """INVITATION_LINK: an absolute URL with exactly one `{invitationId}` and no other placeholder. It ends up in an
    e-mail a person clicks, so it is checked here rather than trusted: never a client-chosen or relative link."""
    raw = _get(env, "INVITATION_LINK")
    if not raw:
        return None
    parts = urlsplit(raw.replace(INVITATION_PLACEHOLDER, "x"))
    if parts.scheme not in ("https", "http") or not parts.hostname or any(c in raw for c in ' \t\r\n"<>'):
        raise ConfigError(f"INVITATION_LINK must be an absolute http(s) URL, got {raw!r}")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS and env.get("AWS_SAM_LOCAL") != "true":
        raise ConfigError(f"INVITATION_LINK must use https outside local runs, got {raw!r}")
    if raw.count(INVITATION_PLACEHOLDER) != 1 or raw.replace(INVITATION_PLACEHOLDER, "").count("{"):
        raise ConfigError(f"INVITATION_LINK must contain {INVITATION_PLACEHOLDER} exactly once, got {raw!r}")
    if INVITATION_PLACEHOLDER in urlsplit(raw).netloc or len(raw) > 1024:
        raise ConfigError(f"INVITATION_LINK must put {INVITATION_PLACEHOLDER} in its path or query, got {raw!r}")
    return raw


def invitation_link_for(template: str, invitation_id: str) -> str:
    """The invitation's own link: the template with the id filled in (percent-encoded, though Logto ids are plain)."""
    return template.replace(INVITATION_PLACEHOLDER, quote(invitation_id, safe=""))


def default_management_api_resource(endpoint: str) -> str:
    """Logto Cloud tenants use https://<tenant>.logto.app/api; self-hosted Logto uses the `default` tenant."""
    match = _CLOUD_HOST.match(urlsplit(endpoint).hostname or "")
    return f"https://{match.group(1)}.logto.app/api" if match else "https://default.logto.app/api"


def load_settings(env: Mapping[str, str] | None = None, *, require: tuple[str, ...] = ()) -> Settings:
    """Read and validate the configuration. `require` names variables this function cannot work without."""
    env = os.environ if env is None else env
    for name in ("LOGTO_ENDPOINT", *require):
        if not _get(env, name):
            raise ConfigError(f"{name} is not set")
    endpoint = _url(env, "LOGTO_ENDPOINT", _get(env, "LOGTO_ENDPOINT"))
    issuer = _get(env, "LOGTO_ISSUER")
    issuer = _url(env, "LOGTO_ISSUER", issuer) if issuer else f"{endpoint}/oidc"
    creator_role = _get(env, "CREATOR_ROLE") or "admin"
    if len(creator_role) > 128:
        raise ConfigError("CREATOR_ROLE must be at most 128 characters")
    return Settings(
        logto_endpoint=endpoint,
        issuer=issuer,
        management_api_resource=_matching(
            env, "LOGTO_MANAGEMENT_API_RESOURCE", _RESOURCE, "a resource indicator without spaces"
        )
        or default_management_api_resource(endpoint),
        api_resource=_matching(env, "API_RESOURCE", _RESOURCE, "a resource indicator without spaces"),
        m2m_secret_id=_matching(env, "M2M_SECRET_ID", _SECRET_ID, "a Secrets Manager secret name or ARN"),
        creator_role=creator_role,
        permission_overrides=_overrides(env),
        cors=parse_allowed_origins(_get(env, "ALLOWED_ORIGINS")),
        clock_skew_seconds=_int(env, "TOKEN_CLOCK_SKEW_SECONDS", 60, 0, 60),
        jwks_max_age_seconds=_int(env, "JWKS_MAX_AGE_SECONDS", 300, 30, 86400),
        jwks_refresh_cooldown_seconds=_int(env, "JWKS_REFRESH_COOLDOWN_SECONDS", 30, 1, 3600),
        jwks_stale_grace_seconds=_int(env, "JWKS_STALE_GRACE_SECONDS", 3600, 0, 86400),
        jwks_timeout_seconds=_float(env, "JWKS_TIMEOUT_SECONDS", 3.0, 0.5, 4.0),  # the authorizer runs 5 s at most
        m2m_secret_max_age_seconds=_int(env, "M2M_SECRET_MAX_AGE_SECONDS", 300, 0, 86400),
        m2m_rejected_cooldown_seconds=_int(env, "M2M_REJECTED_COOLDOWN_SECONDS", 30, 1, 3600),
        role_cache_seconds=_int(env, "ROLE_CACHE_SECONDS", 60, 0, 3600),
        live_permissions=_choice(env, "LIVE_PERMISSIONS", ("writes", "all", "off")),
        state_table=_matching(env, "IDEMPOTENCY_TABLE", _TABLE_NAME, "a DynamoDB table name"),
        cleanup_table=_matching(env, "CLEANUP_TABLE", _TABLE_NAME, "a DynamoDB table name"),
        invitation_link=_invitation_link(env),
        audit_table=_matching(env, "AUDIT_TABLE", _TABLE_NAME, "a DynamoDB table name"),
        event_bus=_matching(env, "EVENT_BUS_NAME", _EVENT_BUS, "an EventBridge bus name or ARN"),
        audit_retention_days=_int(env, "AUDIT_RETENTION_DAYS", 90, 1, 3650),
        **_limits(env),
    )


# The contract's "Limits" (name, default). A count above MAX_LIMIT is refused: a rate window keeps one entry per place
# in one DynamoDB item (400 KB at most), and a limit that high is no limit anyway (use 0).


def _limits(env: Mapping[str, str]) -> dict[str, int]:
    return {name.lower(): _int(env, name, default, 0, MAX_LIMIT) for name, default in LIMITS.items()}
