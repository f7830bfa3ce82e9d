"""GET /organizations/{organizationId}/invitations (thin handler: the rule lives in orgapi.operations.invitations)."""

from orgapi.gateway.handler import build_handler
from orgapi.operations.invitations import list_invitations

lambda_handler = build_handler("list_invitations", list_invitations)
