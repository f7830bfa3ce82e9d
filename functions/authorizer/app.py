"""Lambda TOKEN authorizer (thin): verification and policy building live in the shared layer."""

from orgapi.base.observability import logger, metrics
from orgapi.tokens.authorizer import create_authorizer

authorizer = create_authorizer()  # config validated and JWKS cache created once per execution environment


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    return authorizer.authorize(event)
