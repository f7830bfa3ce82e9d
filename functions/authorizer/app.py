"""Lambda TOKEN authorizer (thin): verification, policy building and its one log line live in the shared layer."""

from orgapi.tokens.authorizer import create_authorizer

authorizer = create_authorizer()  # config validated and JWKS cache created once per execution environment


def lambda_handler(event, context):
    return authorizer.authorize(event, context)
