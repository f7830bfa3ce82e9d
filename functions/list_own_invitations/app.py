"""GET /invitations (thin handler: the rule lives in orgapi.operations.invitee)."""

from orgapi.gateway.handler import build_handler
from orgapi.operations.invitee import list_own_invitations

lambda_handler = build_handler("list_own_invitations", list_own_invitations)
