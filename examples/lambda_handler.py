"""An AWS Lambda function reported to Prefect by skiff (used by ``scripts/demo_lambda.py``).

Deploy with handler ``lambda_handler.handler`` (or ``lambda_handler.on_order`` for an SQS
queue with ReportBatchItemFailures on) and ``PREFECT_API_URL`` in the environment::

    aws lambda invoke --function-name orders --payload '{"items": [3, 4]}' out.json

Each invocation is one flow run; each ``@task`` call a task run; logs go with them, and
everything is flushed before the handler returns, so Lambda's freeze loses nothing.
"""

from __future__ import annotations

import json
from typing import Any

from skiff import get_run_logger, task
from skiff.adapters.aws_lambda import lambda_flow


@task
def price(quantity: int) -> float:
    """The price of one order line."""
    return round(quantity * 9.99, 2)


@lambda_flow(name="lambda-orders", log_prints=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Price an order: ``{"items": [quantity, ...]}``; ``{"fail": true}`` raises."""
    logger = get_run_logger()
    items = event.get("items", [])
    logger.info("pricing %d items", len(items))
    if event.get("fail"):
        raise ValueError("the order was rejected")
    total = sum(price(quantity) for quantity in items)
    print(f"order total {total:.2f}")
    return {"total": round(total, 2)}


@lambda_flow(name="lambda-order-queue", sqs_batch=True)
def on_order(record: dict[str, Any]) -> float:
    """One SQS record: a JSON order body; a malformed one is reported as a batch failure."""
    order = json.loads(record["body"])
    return sum(price(quantity) for quantity in order["items"])
