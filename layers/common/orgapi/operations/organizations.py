"""Create, list, read, update and delete organizations."""

from __future__ import annotations

import os
import re
from functools import cache
from typing import TYPE_CHECKING, Any

from orgapi import views
from orgapi.api import Request, Result
from orgapi.caller import Caller
from orgapi.deadline import Deadline
from orgapi.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    Unprocessable,
    UpstreamError,
)
from orgapi.observability import logger

if TYPE_CHECKING:
    from orgapi.models import CreateOrganization
from orgapi.services import Services

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")
IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600


def create_organization(request: Request, services: Services) -> Result:
    from orgapi.models import CreateOrganization  # pydantic is loaded only by operations that parse input

    body = request.body(CreateOrganization)
    if not request.caller.is_user:
        raise Forbidden(
            "Creating an organization needs a user's token (the creator becomes its member)", code="user_token_required"
        )
    key = request.header("Idempotency-Key")
    if key is None:
        created = _create(services, request.caller, body, request.deadline)
    elif not IDEMPOTENCY_KEY.match(key):
        raise BadRequest("Idempotency-Key must be 1-128 printable ASCII characters", code="invalid_idempotency_key")
    else:
        created = _create_once(request, services, body, key)
    request.audit_targets["createdOrganizationId"] = created.get("id")
    return Result(201, created)


def _create(services: Services, caller: Caller, body: CreateOrganization, deadline: Deadline) -> dict[str, Any]:
    """Create the organization, make the caller a member holding CREATOR_ROLE; on any failure delete it again."""
    creator_role = services.roles.cached(deadline).named(services.settings.creator_role)
    if creator_role is None:
        logger.error("creator_role_missing", extra={"role": services.settings.creator_role})
        raise UpstreamError("The creator role is not configured in the identity provider", code="creator_role_missing")
    organization = services.logto.create_organization(body.model_dump(exclude_none=True), deadline)
    organization_id = organization["id"]
    try:
        services.logto.add_members(organization_id, [caller.subject], deadline)
        services.logto.assign_roles(organization_id, [caller.subject], [creator_role.id], deadline)
    except Exception:
        _compensate(services, organization_id)
        raise
    logger.info("organization_created", extra={"created_organization_id": organization_id})
    return {
        **views.organization(organization),
        "organizationRoles": [{"id": creator_role.id, "name": creator_role.name}],
    }


def _compensate(services: Services, organization_id: str) -> None:
    """No orphans: an organization whose creator could not be made its admin is deleted again."""
    try:
        services.logto.delete_organization(organization_id, Deadline.after(5.0))
        logger.warning("organization_create_compensated", extra={"created_organization_id": organization_id})
    except Exception:
        # Needs a human: the organization exists without its creator. The id is enough to find and delete it.
        logger.exception("organization_compensation_failed", extra={"created_organization_id": organization_id})


@cache
def _idempotency() -> tuple[Any, Any]:
    # Imported lazily: idempotency pulls in boto3/DynamoDB, which only this one operation needs.
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    config = IdempotencyConfig(
        event_key_jmespath="[caller, key]",  # scoped to the caller: one user's key never replays another's result
        payload_validation_jmespath="body",  # same key with a different body is refused, not silently replayed
        raise_on_no_idempotency_key=True,
        expires_after_seconds=IDEMPOTENCY_WINDOW_SECONDS,
    )
    store = DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE"])

    @idempotent_function(data_keyword_argument="request", config=config, persistence_store=store)
    def create(
        request: dict[str, Any], services: Services, caller: Caller, body: CreateOrganization, deadline: Deadline
    ):
        return _create(services, caller, body, deadline)

    return config, create


def _create_once(request: Request, services: Services, body: CreateOrganization, key: str) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    config, create = _idempotency()
    if request.lambda_context is not None:
        config.register_lambda_context(request.lambda_context)  # a timed-out attempt must not block the key
    payload = {"caller": request.caller.subject, "key": key, "body": body.model_dump(mode="json")}
    try:
        return create(request=payload, services=services, caller=request.caller, body=body, deadline=request.deadline)
    except ApiError:
        raise
    except IdempotencyValidationError:
        raise Unprocessable(
            "This Idempotency-Key was used with a different request", code="idempotency_key_reused"
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise Conflict(
            "A request with this Idempotency-Key is in progress", code="request_in_progress", retry_after=1
        ) from None
    except Exception as exc:
        logger.exception("idempotency_store_failed", extra={"error": type(exc).__name__})
        raise ServiceUnavailable(
            "Idempotency storage is unavailable", code="idempotency_unavailable", retry_after=2
        ) from None


def list_organizations(request: Request, services: Services) -> Result:
    try:
        organizations = services.logto.user_organizations(request.caller.subject, request.deadline)
    except NotFound:
        organizations = []  # the subject is not a Logto user (e.g. an M2M app): it belongs to no organization
    return Result(200, [views.organization_with_roles(o) for o in organizations if isinstance(o, dict)])


def get_organization(request: Request, services: Services) -> Result:
    return Result(
        200, views.organization(services.logto.get_organization(request.path["organizationId"], request.deadline))
    )


def update_organization(request: Request, services: Services) -> Result:
    from orgapi.models import UpdateOrganization

    body = request.body(UpdateOrganization)
    changes = body.model_dump(exclude_unset=True)  # customData is replaced as a whole, as Logto does
    updated = services.logto.update_organization(request.path["organizationId"], changes, request.deadline)
    return Result(200, views.organization(updated))


def delete_organization(request: Request, services: Services) -> Result:
    services.logto.delete_organization(request.path["organizationId"], request.deadline)
    return Result(204)
