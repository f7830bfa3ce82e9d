"""GET /organizations/{organizationId}/members (thin handler: the rule lives in orgapi.operations.members)."""

from orgapi.gateway.handler import build_handler
from orgapi.operations.members import list_members

lambda_handler = build_handler("list_members", list_members)
