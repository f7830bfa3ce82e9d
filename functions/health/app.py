"""GET /health: liveness without authorization and without calling Logto."""

import json
import os

from orgapi.base.cors import parse_allowed_origins
from orgapi.gateway.cors import with_cors


@with_cors(parse_allowed_origins(os.environ.get("ALLOWED_ORIGINS", "")))
def lambda_handler(event, context):
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps({"status": "ok"})}
