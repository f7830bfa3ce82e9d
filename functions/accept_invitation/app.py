"""POST /invitations/{invitationId}/accept (thin handler: the rule lives in orgapi.operations.invitee)."""

from orgapi.gateway.handler import build_handler
from orgapi.operations.invitee import accept_invitation

lambda_handler = build_handler("accept_invitation", accept_invitation)
