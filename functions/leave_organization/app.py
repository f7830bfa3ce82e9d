"""DELETE /organizations/{organizationId}/members/me (thin handler: the rule lives in orgapi.operations.own_membership)."""

from orgapi.gateway.handler import build_handler
from orgapi.operations.own_membership import leave_organization

lambda_handler = build_handler("leave_organization", leave_organization)
