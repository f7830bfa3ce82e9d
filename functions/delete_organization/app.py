"""DELETE /organizations/{organizationId} (thin handler: the rule lives in orgapi.operations.organizations)."""

from orgapi.gateway.handler import build_handler
from orgapi.operations.organizations import delete_organization

lambda_handler = build_handler("delete_organization", delete_organization)
