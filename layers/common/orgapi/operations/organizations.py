"""Create, list, read, update and delete organizations."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from orgapi.base.deadline import Deadline
from orgapi.base.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    ServiceUnavailable,
    Unprocessable,
    UpstreamError,
)
from orgapi.base.observability import logger
from orgapi.contract import views
from orgapi.logto.http import LogtoError, NoAnswer
from orgapi.operations import limits
from orgapi.operations.request import Request, Result
from orgapi.outcomes import changes, creation
from orgapi.tokens.identity import Caller

if TYPE_CHECKING:
    from orgapi.contract.models import CreateOrganization
from orgapi.operations.services import Services

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")
IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600


def create_organization(request: Request, services: Services) -> Result:
    from orgapi.contract.models import CreateOrganization  # pydantic is loaded only by operations that parse input

    body = request.body(CreateOrganization)
    if not request.caller.is_user:
        raise Forbidden(
            "Creating an organization needs a user's token (the creator becomes its member)", code="user_token_required"
        )
    key = request.header("Idempotency-Key")
    if key is None:
        created = _create(services, request.caller, body, request.deadline, None, request.changed)
    elif not IDEMPOTENCY_KEY.match(key):
        raise BadRequest("Idempotency-Key must be 1-128 printable ASCII characters", code="invalid_idempotency_key")
    else:
        created = _create_once(request, services, body, key)
    request.audit_targets["createdOrganizationId"] = created.get("id")
    return Result(201, created)


def _create(
    services: Services,
    caller: Caller,
    body: CreateOrganization,
    deadline: Deadline,
    key: str | None,
    changed: Callable[..., None],
) -> dict[str, Any]:
    """Create the organization with the caller as CREATOR_ROLE member, or nothing (orgapi.outcomes.creation).
    `changed`: Request.changed (not called on an Idempotency-Key's replay, which never runs this)."""
    creator_role = services.roles.cached(deadline).named(services.settings.creator_role)
    if creator_role is None:
        logger.error("creator_role_missing", extra={"role": services.settings.creator_role})
        raise UpstreamError("The creator role is not configured in the identity provider", code="creator_role_missing")
    if services.cleanups is None:
        raise ServiceUnavailable("Clean-up storage is not configured", code="cleanup_unavailable", retry_after=30)
    with limits.organization_place(services, caller.subject):  # given back when nothing was created
        organization = creation.create(
            services.logto,
            services.cleanups,
            creator=caller.subject,
            creator_role_id=creator_role.id,
            body=body.model_dump(exclude_none=True),
            cid=creation.creation_id(caller.subject, key),
            deadline=deadline,
        )
    logger.info("organization_created", extra={"created_organization_id": organization["id"]})
    changed("organization.created", organization["id"])
    return {
        **views.organization(organization),
        "organizationRoles": [{"id": creator_role.id, "name": creator_role.name}],
    }


@cache
def _idempotency(table_name: str) -> tuple[Any, Any]:
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
    store = DynamoDBPersistenceLayer(table_name=table_name)

    @idempotent_function(data_keyword_argument="request", config=config, persistence_store=store)
    def create(
        request: dict[str, Any],
        services: Services,
        caller: Caller,
        body: CreateOrganization,
        deadline: Deadline,
        changed: Callable[..., None],
    ):
        return _create(services, caller, body, deadline, request["key"], changed)

    return config, create


def _create_once(request: Request, services: Services, body: CreateOrganization, key: str) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    config, create = _idempotency(services.settings.state_table)
    if request.lambda_context is not None:
        config.register_lambda_context(request.lambda_context)  # a timed-out attempt must not block the key
    payload = {"caller": request.caller.subject, "key": key, "body": body.model_dump(mode="json")}
    try:
        return create(
            request=payload,
            services=services,
            caller=request.caller,
            body=body,
            deadline=request.deadline,
            changed=request.changed,
        )
    except (ApiError, LogtoError, NoAnswer):
        raise  # the attempt failed: Powertools dropped the key's record, so a retry runs again (and resumes it)
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
    except LogtoError as error:
        if error.status != 404:
            raise
        organizations = []  # the subject is not a Logto user (e.g. an M2M app): it belongs to no organization
    return Result(200, [views.organization_with_roles(o) for o in organizations if isinstance(o, dict)])


def get_organization(request: Request, services: Services) -> Result:
    return Result(
        200, views.organization(services.logto.get_organization(request.path["organizationId"], request.deadline))
    )


def update_organization(request: Request, services: Services) -> Result:
    from orgapi.contract.models import UpdateOrganization

    body = request.body(UpdateOrganization)
    fields = body.model_dump(exclude_unset=True)  # customData is replaced as a whole, as Logto does
    updated = changes.update_organization(services.logto, request.path["organizationId"], fields, request.deadline)
    request.changed("organization.updated", request.path["organizationId"])
    return Result(200, views.organization(updated))


def delete_organization(request: Request, services: Services) -> Result:
    changes.delete_organization(services.logto, request.path["organizationId"], request.deadline)
    request.changed("organization.deleted", request.path["organizationId"])
    return Result(204)
