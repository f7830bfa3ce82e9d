"""An organization's audit trail, newest first (orgapi.outcomes.audit): who did what, ids only. No Logto call: the
entries are the service's own; `audit:read` is still checked against the caller's roles now (routes.py: live_always)."""

from __future__ import annotations

from orgapi.base.errors import ServiceUnavailable
from orgapi.operations.request import Request, Result
from orgapi.operations.services import Services


def list_audit(request: Request, services: Services) -> Result:
    from orgapi.contract.models import AuditQuery

    if services.audit is None:
        raise ServiceUnavailable("The audit trail is not configured", code="audit_unavailable", retry_after=30)
    query = request.query_as(AuditQuery)
    page = services.audit.page(request.path["organizationId"], query.limit, query.cursor, query.action, query.actorId)
    return Result(200, page.entries, {"Next-Cursor": page.cursor} if page.cursor else {})
