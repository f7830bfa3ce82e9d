"""DELETE /organizations/{organizationId}/members/{userId} (thin handler: the rule lives in orgapi.operations.members)."""

from orgapi.gateway.handler import build_handler
from orgapi.operations.members import remove_member

lambda_handler = build_handler("remove_member", remove_member)
