"""Lambda event shapes: which service sent an event, and an HTTP event's candidate parameters.

Pure functions without I/O, so every shape is unit-tested from sample events.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["HTTP_TRIGGERS", "http_fields", "record_source", "trigger_type"]

HTTP_TRIGGERS = frozenset({"api-gateway-v1", "api-gateway-v2", "function-url", "alb"})

# ``eventSource`` of a record (``EventSource`` for SNS) -> trigger type.
_RECORD_SOURCES = {
    "aws:sqs": "sqs",
    "aws:sns": "sns",
    "aws:s3": "s3",
    "aws:dynamodb": "dynamodb",
    "aws:kinesis": "kinesis",
    "aws:kafka": "kafka",
    "SelfManagedKafka": "kafka",
    "aws:ses": "ses",
}


def record_source(event: Any) -> str | None:
    """The ``eventSource`` of a records batch's first record, or None."""
    if not isinstance(event, Mapping):
        return None
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], Mapping):
        source = records[0].get("eventSource") or records[0].get("EventSource")
        return source if isinstance(source, str) else None
    source = event.get("eventSource")  # Kafka batches keep records under "records"
    return source if isinstance(source, str) and "records" in event else None


def trigger_type(event: Any) -> str:
    """The service that sent ``event``, from its shape.

    One of: sqs, sns, s3, dynamodb, kinesis, kafka, ses, eventbridge, schedule,
    api-gateway-v1, api-gateway-v2, function-url, alb, cloudwatch-logs, cognito,
    cloudformation, deployment (an event with ``flow_run_id``), direct (anything else).
    """
    if not isinstance(event, Mapping):
        return "direct"
    source = record_source(event)
    if source is not None:
        return _RECORD_SOURCES.get(source, source.removeprefix("aws:"))
    context = event.get("requestContext")
    if isinstance(context, Mapping):
        if "elb" in context:
            return "alb"
        if event.get("version") == "2.0" or "http" in context:
            domain = str(context.get("domainName") or "")
            return "function-url" if ".lambda-url." in domain else "api-gateway-v2"
        if "httpMethod" in event or "resourcePath" in context:
            return "api-gateway-v1"
    if "detail-type" in event and "source" in event:
        if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
            return "schedule"
        return "eventbridge"
    if "awslogs" in event:
        return "cloudwatch-logs"
    if "triggerSource" in event and "userPoolId" in event:
        return "cognito"
    if "RequestType" in event and "ResponseURL" in event:
        return "cloudformation"
    if "flow_run_id" in event:
        return "deployment"
    return "direct"


def _body(event: Mapping[str, Any]) -> Any:
    body = event.get("body")
    if not isinstance(body, str) or not body:
        return None
    try:
        if event.get("isBase64Encoded"):
            body = base64.b64decode(body).decode()
        return json.loads(body)
    except ValueError:  # includes binascii.Error and UnicodeDecodeError
        return None


def http_fields(event: Mapping[str, Any]) -> dict[str, Any]:
    """Candidate flow parameters of an HTTP event: query string, then a JSON object body.

    Body keys win over query keys of the same name. Path parameters come first, lowest.
    """
    fields: dict[str, Any] = {}
    for key in ("pathParameters", "queryStringParameters"):
        part = event.get(key)
        if isinstance(part, Mapping):
            fields.update(part)
    body = _body(event)
    if isinstance(body, Mapping):
        fields.update(body)
    return fields
