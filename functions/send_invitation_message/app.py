"""POST /organizations/{organizationId}/invitations/{invitationId}/message (thin handler: see orgapi.operations.invitations)."""

from orgapi.gateway.handler import build_handler
from orgapi.operations.invitations import send_invitation_message

lambda_handler = build_handler("send_invitation_message", send_invitation_message)
