"""6. Lambda: cold and warm invocations through the real awslambdaric and skiff's emulator.

skiff: a handler wrapped with ``lambda_flow``. prefect: a handler calling a prefect ``@flow``.
Floor: a bare handler that reports nothing. Each round starts a new emulator per side: one cold
invocation (wall time of ``invoke``: runtime start, imports, handler) and three warm ones.
"""

from __future__ import annotations

from benchmarks._common import ROOT, Context, Metric, run_driver

TITLE = "AWS Lambda"
EMULATOR = ROOT / "skiff" / "adapters" / "aws_lambda" / "emulator.py"
TASK_ROOT = ROOT / "benchmarks" / "lambda_app"
HANDLERS = {
    "skiff": "skiff_handler.handler",
    "prefect": "prefect_handler.handler",
    "floor": "bare_handler.handler",
}
WARM_PER_ROUND = 3


def run(ctx: Context) -> list[Metric]:
    floor_label = "bare handler, same emulator"
    cold = Metric("Lambda: cold invocation, wall", "s", floor_label)
    warm = Metric("Lambda: warm invocation, wall", "ms", floor_label)
    handlers = dict(HANDLERS)
    if ctx.skiff_lambda_missing:
        for metric in (cold, warm):
            metric.missing["skiff"] = ctx.skiff_lambda_missing
        del handlers["skiff"]
    env = ctx.env()

    def step(side: str) -> None:
        args = [
            "--emulator", str(EMULATOR),
            "--handler", handlers[side],
            "--task-root", str(TASK_ROOT),
            "--warm", str(WARM_PER_ROUND),
        ]  # fmt: skip
        result = run_driver(ctx.python(side), "lambda_invoke", args, env, ctx.scratch)
        cold.add(side, result["walls"][0])
        for seconds in result["walls"][1:]:
            warm.add(side, seconds * 1000)

    ctx.alternate(TITLE, {side: lambda _, s=side: step(s) for side in handlers})
    return [cold, warm]
