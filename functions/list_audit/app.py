"""GET /organizations/{organizationId}/audit (thin handler: the entries are read by orgapi.operations.audit_trail)."""

from orgapi.gateway.handler import build_handler
from orgapi.operations.audit_trail import list_audit

lambda_handler = build_handler("list_audit", list_audit)
