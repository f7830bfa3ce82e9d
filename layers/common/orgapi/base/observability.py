"""Logger and metrics shared by every function (Powertools; no Tracer: X-Ray comes from `Tracing: Active`)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger()  # service name from POWERTOOLS_SERVICE_NAME
metrics = Metrics(namespace="LogtoOrgApi")
