"""GET /organizations/{organizationId} (thin handler: the rule lives in orgapi.operations.organizations)."""

from orgapi.gateway.handler import build_handler
from orgapi.operations.organizations import get_organization

lambda_handler = build_handler("get_organization", get_organization)
