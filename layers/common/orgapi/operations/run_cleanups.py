"""The scheduled clean-up function: runs every due pending clean-up (orgapi.outcomes.cleanup) once and reports the counts as
metrics (CleanupsPending, CleanupsOverdue: the template's alarm watches the latter)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from orgapi.base.deadline import Deadline
from orgapi.base.errors import ConfigError
from orgapi.base.observability import logger, metrics
from orgapi.logto.http import LogtoError
from orgapi.operations.services import Services, services
from orgapi.outcomes import changes, creation
from orgapi.outcomes.cleanup import CREATE, STRANDED_MEMBER, Cleanup, run_pending


def _stranded_member(shared: Services) -> Callable[[Cleanup, Deadline], bool]:
    def run(cleanup: Cleanup, deadline: Deadline) -> bool:
        """The request that added this member failed and told its client so: take the member out again (gone
        already counts as done)."""
        organization_id, user_id = str(cleanup.data["organization_id"]), str(cleanup.data["user_id"])
        try:
            changes.remove_member(shared.logto, organization_id, user_id, deadline)
        except LogtoError as error:
            if error.status != 404:
                raise
        return True

    return run


def build_cleanup_handler() -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    shared = services()  # cold start: the configuration is validated here
    store = shared.cleanups
    if store is None:
        raise ConfigError("CLEANUP_TABLE is not set")
    handlers = {
        CREATE: lambda cleanup, deadline: creation.reconcile(shared.logto, cleanup, deadline),
        STRANDED_MEMBER: _stranded_member(shared),
    }

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        deadline = Deadline.from_context(context, default_seconds=50.0)
        result = asdict(run_pending(store, handlers, deadline))
        if shared.audit is not None:  # change events a request could not publish (orgapi.audit)
            result["eventsPublished"], result["eventsUnpublished"] = shared.audit.publish_unpublished(
                deadline.remaining
            )
        return result

    return lambda_handler
