"""POST /organizations/{organizationId}/members (thin handler: the rule lives in orgapi.operations.members)."""

from orgapi.gateway.handler import build_handler
from orgapi.operations.members import add_members

lambda_handler = build_handler("add_members", add_members, needs_cleanups=True)
