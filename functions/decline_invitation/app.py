"""POST /invitations/{invitationId}/decline (thin handler: the rule lives in orgapi.operations.invitee)."""

from orgapi.gateway.handler import build_handler
from orgapi.operations.invitee import decline_invitation

lambda_handler = build_handler("decline_invitation", decline_invitation)
