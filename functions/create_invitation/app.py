"""POST /organizations/{organizationId}/invitations (thin handler: the rule lives in orgapi.operations.invitations)."""

from orgapi.gateway.handler import build_handler
from orgapi.operations.invitations import create_invitation

lambda_handler = build_handler("create_invitation", create_invitation)
