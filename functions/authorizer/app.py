"""Lambda TOKEN authorizer (thin): verification and policy building live in the shared layer."""

from orgapi.authorizer import create_authorizer
from orgapi.observability import logger, metrics

authorizer = create_authorizer()  # config validated and JWKS cache created once per execution environment


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    return authorizer.authorize(event)
