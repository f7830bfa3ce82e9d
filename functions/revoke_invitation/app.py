"""DELETE /organizations/{organizationId}/invitations/{invitationId} (thin handler: the rule lives in orgapi.operations.invitations)."""

from orgapi.gateway.handler import build_handler
from orgapi.operations.invitations import revoke_invitation

lambda_handler = build_handler("revoke_invitation", revoke_invitation)
