"""PUT /organizations/{organizationId}/members/{userId}/roles (thin handler: the rule lives in orgapi.operations.members)."""

from orgapi.gateway.handler import build_handler
from orgapi.operations.members import replace_member_roles

lambda_handler = build_handler("replace_member_roles", replace_member_roles)
