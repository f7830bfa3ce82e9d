"""GET /organizations/{organizationId}/members/me (thin handler: the rule lives in orgapi.operations.own_membership)."""

from orgapi.gateway.handler import build_handler
from orgapi.operations.own_membership import get_own_membership

lambda_handler = build_handler("get_own_membership", get_own_membership)
