"""GET /organizations/{organizationId}/roles (thin handler: the rule lives in orgapi.operations.roles)."""

from orgapi.gateway.handler import build_handler
from orgapi.operations.roles import list_roles

lambda_handler = build_handler("list_roles", list_roles)
