"""GET /organizations (thin handler: the rule lives in orgapi.operations.organizations)."""

from orgapi.gateway.handler import build_handler
from orgapi.operations.organizations import list_organizations

lambda_handler = build_handler("list_organizations", list_organizations)
