"""Google Cloud Functions reported to Prefect by skiff (used by ``scripts/demo_functions.py``).

Serve one target locally (or deploy with ``--entry-point``), with ``PREFECT_API_URL`` set::

    functions-framework --source examples/gcp_functions.py --target quote --port 8080
    curl 'localhost:8080/?items=2,3'

Targets: ``quote`` (HTTP; ``?fail=1`` raises, and functions-framework answers 500) and
``object_uploaded`` (a CloudEvent, e.g. ``google.cloud.storage.object.v1.finalized``,
feeding an existing flow). Each call is one flow run, each ``@task`` call a task run, and
logs go with them; everything is flushed before the function returns.
"""

from __future__ import annotations

from typing import Any

import functions_framework

from skiff import flow, get_run_logger, task
from skiff.adapters.gcp import cloud_event_flow, http_flow


@task
def price(quantity: int) -> float:
    """The price of one order line."""
    return round(quantity * 9.99, 2)


@functions_framework.http
@http_flow(name="gcp-quote", log_prints=True)
def quote(request: Any) -> dict[str, Any]:
    """Price ``?items=2,3``; ``?fail=1`` raises."""
    items = [int(q) for q in request.args.get("items", "1").split(",")]
    get_run_logger().info("pricing %d items", len(items))
    if request.args.get("fail"):
        raise ValueError("the quote was rejected")
    total = round(sum(price(q) for q in items), 2)
    print(f"quote total {total:.2f}")
    return {"total": total}


@task
def index_object(bucket: str, name: str) -> str:
    """Pretend to index an uploaded object; returns its URI."""
    return f"gs://{bucket}/{name}"


# An existing flow, fed by the event's data (a Cloud Storage object's metadata).
@functions_framework.cloud_event
@cloud_event_flow(
    parameters=lambda event: {"bucket": event.data["bucket"], "name": event.data["name"]}
)
@flow(name="gcp-object-uploaded")
def object_uploaded(bucket: str, name: str) -> None:
    """Index a newly uploaded Cloud Storage object."""
    uri = index_object(bucket, name)
    get_run_logger().info("indexed %s", uri)
