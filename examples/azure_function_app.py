"""An Azure Functions app (v2 model) reported to Prefect by skiff.

Used by ``scripts/demo_functions.py``, which invokes it in-process the way the Python
worker does. Deploy it as ``function_app.py`` with ``PREFECT_API_URL`` and (optionally)
``SKIFF_AZURE_FUNCTION_TIMEOUT`` in the app settings.

Functions: ``quote`` (HTTP, ``?items=2,3``; ``?fail=1`` raises), ``nightly`` (a timer,
async) and ``place_order`` (a storage queue message feeding an existing flow).
"""

from __future__ import annotations

import azure.functions as func

from skiff import flow, get_run_logger, task
from skiff.adapters.azure import azure_flow

app = func.FunctionApp()


@task
def price(quantity: int) -> float:
    """The price of one order line."""
    return round(quantity * 9.99, 2)


@app.route(route="quote", auth_level=func.AuthLevel.ANONYMOUS)
@azure_flow(name="azure-quote")
def quote(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """Price ``?items=2,3``; ``?fail=1`` raises (the host answers 500)."""
    items = [int(q) for q in req.params.get("items", "1").split(",")]
    get_run_logger().info("pricing %d items for invocation %s", len(items), context.invocation_id)
    if req.params.get("fail"):
        raise ValueError("the quote was rejected")
    total = round(sum(price(q) for q in items), 2)
    return func.HttpResponse(f'{{"total": {total}}}', mimetype="application/json")


@app.schedule(schedule="0 0 2 * * *", arg_name="timer", run_on_startup=False)
@azure_flow(name="azure-nightly", timeout=600)
async def nightly(timer: func.TimerRequest) -> None:
    """A nightly clean-up; logs whether the timer fired late."""
    get_run_logger().info("nightly clean-up (past due: %s)", timer.past_due)


@flow(name="azure-order")
def place_order(customer: str, items: list[int]) -> float:
    """An existing flow: price an order."""
    total = round(sum(price(q) for q in items), 2)
    get_run_logger().info("order for %s: %.2f", customer, total)
    return total


app.queue_trigger(arg_name="msg", queue_name="orders", connection="AzureWebJobsStorage")(
    azure_flow(place_order, arg_name="msg", parameters=lambda msg: msg.get_json())
)
