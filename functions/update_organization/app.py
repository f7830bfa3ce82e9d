"""PATCH /organizations/{organizationId} (thin handler: the rule lives in orgapi.operations.organizations)."""

from orgapi.gateway.handler import build_handler
from orgapi.operations.organizations import update_organization

lambda_handler = build_handler("update_organization", update_organization)
