"""The M2M app credentials, read from Secrets Manager through Powertools parameters (cached for a max age)."""

from __future__ import annotations

from dataclasses import dataclass, field

from orgapi.base.errors import ServiceUnavailable
from orgapi.base.observability import logger


@dataclass(frozen=True)
class M2MCredentials:
    """The M2M application's id and secret, from Secrets Manager."""

    app_id: str
    app_secret: str = field(repr=False)  # never in a repr, a log line or an error


class CredentialsUnavailable(ServiceUnavailable):
    code = "m2m_credentials_unavailable"
    message = "The service cannot reach its Logto credentials; retry later"


def load_m2m_credentials(secret_id: str, max_age: int, force: bool = False) -> M2MCredentials:
    """Read {"appId", "appSecret"}; `force` bypasses the cache (after Logto rejected the cached secret: rotation)."""
    # Imported here: parameters pulls in boto3, which the cold start of a warm path need not pay for twice.
    from aws_lambda_powertools.utilities import parameters

    try:
        value = parameters.get_secret(secret_id, transform="json", max_age=max_age, force_fetch=force)
    except Exception as exc:
        logger.error("m2m_secret_unreadable", extra={"secret_id": secret_id, "error": type(exc).__name__})
        raise CredentialsUnavailable(retry_after=5) from None
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("appId"), str)
        or not isinstance(value.get("appSecret"), str)
        or not value["appId"]
        or not value["appSecret"]
    ):
        logger.error(
            "m2m_secret_invalid", extra={"secret_id": secret_id, "expected": '{"appId": str, "appSecret": str}'}
        )
        raise CredentialsUnavailable(retry_after=30)
    return M2MCredentials(value["appId"], value["appSecret"])
