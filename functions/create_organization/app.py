"""POST /organizations (thin handler: the rule lives in orgapi.operations.organizations)."""

from orgapi.gateway.handler import build_handler
from orgapi.operations.organizations import create_organization

lambda_handler = build_handler("create_organization", create_organization, needs_cleanups=True)
