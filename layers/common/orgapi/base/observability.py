"""Logger and metrics shared by every function (Powertools; no Tracer: X-Ray comes from `Tracing: Active`)."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from orgapi.base.spared_imports import sparing

# Powertools' Logger imports its JMESPath utilities for `correlation_id_path`, which we never pass (see spared_imports).
with sparing({"aws_lambda_powertools.utilities.jmespath_utils": ()}):
    from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

logger = Logger()  # service name from POWERTOOLS_SERVICE_NAME
metrics = Metrics(namespace="LogtoOrgApi")


def counted(name: str) -> dict[str, Any]:
    """Fields that make a log line also count 1 of the metric `name` (CloudWatch's embedded metric format reads it
    from the line): one write per event instead of a log line and a metrics blob. The fields are Powertools' own EMF
    serialization (made once per name, on a provider of its own, so pending metrics are untouched); only the
    timestamp is new. Nothing when metrics are disabled (POWERTOOLS_METRICS_DISABLED)."""
    if is_metrics_disabled():
        return {}
    template = _emf(name)
    return {**template, "_aws": {**template["_aws"], "Timestamp": int(time.time() * 1000)}}


@cache
def _emf(name: str) -> dict[str, Any]:
    provider = AmazonCloudWatchEMFProvider(namespace=metrics.provider.namespace, service=metrics.provider.service)
    provider.add_metric(name=name, unit="Count", value=1)
    return dict(provider.serialize_metric_set())
