"""6. Lambda: cold and warm invocations through the real awslambdaric and skiff's emulator.

Sides, all in the same run, against the same server:

- skiff: a handler wrapped with ``lambda_flow``, its in-process extension registered, so the
  reports drain after the response, before the extension's ``next``;
- skiff, extension off: the same handler with ``SKIFF_LAMBDA_EXTENSION=false`` (reports
  flushed before returning: the response waits for them);
- prefect: a handler calling a prefect ``@flow`` (prefect-client has no Lambda adapter);
- floor: a bare handler that reports nothing;
- one bare ``POST /flow_runs/`` round trip on a warm httpx connection, timed just before
  each of skiff's warm invocations (so against the server in the same state): the one
  request a reporting handler must wait for before its body (the run is created with the
  server's answer).

Each round starts a new emulator per side: one cold invocation (the caller's wall through
the Invoke API: runtime start, imports, handler) and warm ones, the sandbox frozen between
them. Per warm invocation the emulator records the *response latency* (hand-off to the
runtime until it posted the answer: the caller's wait) and the *billed duration* (until the
runtime and every extension called ``next``). The target: skiff's median response latency
is at most the bare handler's plus one ``POST /flow_runs/``.
"""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Callable
from typing import Any

from benchmarks._common import ROOT, Context, Metric, run_driver

TITLE = "AWS Lambda"
EMULATOR = ROOT / "skiff" / "adapters" / "aws_lambda" / "emulator"
TASK_ROOT = ROOT / "benchmarks" / "lambda_app"
# Steps of a round: (metric side, handler, function environment). skiff's step also times
# the bare POST /flow_runs/ beside each invocation.
STEPS: dict[str, tuple[str, str, dict[str, str]]] = {
    "skiff": ("skiff", "skiff_handler.handler", {}),
    "skiff, extension off": (
        "skiff",
        "skiff_handler.handler",
        {"SKIFF_LAMBDA_EXTENSION": "false"},
    ),
    "prefect": ("prefect", "prefect_handler.handler", {}),
    "bare handler": ("floor", "bare_handler.handler", {}),
}
POST_FLOOR = "bare POST /flow_runs/"
# At least this many warm invocations per side over the whole run, and per round no fewer
# than WARM_PER_ROUND_MIN (prefect's take over a second each: the suite stays short).
WARM_TOTAL_MIN = 20
WARM_PER_ROUND_MIN = 8
BARE = "bare handler, same emulator"


def warm_per_round(rounds: int) -> int:
    """Warm invocations per side and round, so every side gets at least WARM_TOTAL_MIN."""
    return max(WARM_PER_ROUND_MIN, math.ceil(WARM_TOTAL_MIN / rounds))


def run(ctx: Context) -> list[Metric]:
    warm = warm_per_round(ctx.rounds)
    raw: dict[str, list[dict[str, Any]]] = {label: [] for label in STEPS}
    steps = dict(STEPS)
    if ctx.skiff_lambda_missing:
        steps = {label: step for label, step in steps.items() if step[0] != "skiff"}
    env = ctx.env()

    def invoke(label: str) -> None:
        side, handler, function_env = steps[label]
        args = [
            "--emulator", str(EMULATOR),
            "--handler", handler,
            "--task-root", str(TASK_ROOT),
            "--warm", str(warm),
            *(f"--env={name}={value}" for name, value in function_env.items()),
            *(["--post-floor"] if label == "skiff" else []),
        ]  # fmt: skip
        result = run_driver(ctx.python(side), "lambda_invoke", args, env, ctx.scratch)
        raw[label].append(result)

    def step(label: str) -> Callable[[int], None]:
        return lambda _: invoke(label)

    ctx.alternate(TITLE, {label: step(label) for label in steps})
    metrics = _metrics(raw, ctx.skiff_lambda_missing)
    print("\n".join(table(raw, warm, ctx.rounds)), file=sys.stderr, flush=True)
    return metrics


def _warm(raw: dict[str, list[dict[str, Any]]], label: str, key: str) -> list[float]:
    """Every warm sample of one step, in milliseconds."""
    return [sample[key] * 1000 for result in raw[label] for sample in result["warm"]]


def _cold(raw: dict[str, list[dict[str, Any]]], label: str) -> list[float]:
    return [result["cold"]["wall"] for result in raw[label]]


def _posts(raw: dict[str, list[dict[str, Any]]]) -> list[float]:
    return [seconds * 1000 for result in raw["skiff"] for seconds in result["posts"]]


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _ratio(value: float, base: float | None) -> str:
    return f"{value / base:.2f}x" if base else ""


def target_check(raw: dict[str, list[dict[str, Any]]]) -> tuple[str, bool] | None:
    """The issue's check, "skiff response <= bare handler + one POST /flow_runs/", as text."""
    skiff = _median(_warm(raw, "skiff", "response"))
    bare = _median(_warm(raw, "bare handler", "response"))
    post = _median(_posts(raw))
    if skiff is None or bare is None or post is None:
        return None
    target = bare + post
    ok = skiff <= target
    text = (
        f"skiff response {skiff:.2f} ms <= bare handler {bare:.2f} ms + one POST /flow_runs/ "
        f"{post:.2f} ms = {target:.2f} ms: {'pass' if ok else 'FAIL'}"
        f" ({skiff - target:+.2f} ms)"
    )
    return text, ok


def _metrics(raw: dict[str, list[dict[str, Any]]], skiff_missing: str | None) -> list[Metric]:
    check = target_check(raw)
    response_label = BARE
    if check is not None:
        response_label += (
            f"; skiff <= bare + one POST /flow_runs/: {'pass' if check[1] else 'FAIL'}"
        )
    cold = Metric("Lambda: cold invocation, caller's wall", "s", BARE)
    response = Metric("Lambda: warm response latency, the caller's wait", "ms", response_label)
    billed = Metric("Lambda: warm billed duration, until the last next", "ms", BARE)
    off = Metric("Lambda: warm response, SKIFF_LAMBDA_EXTENSION=false", "ms", BARE)
    wall = Metric("Lambda: warm Invoke API round trip, caller's wall", "ms", BARE)
    floor_post = Metric(
        "Lambda: one bare POST /flow_runs/, warm httpx",
        "ms",
        "bare httpx, timed beside skiff's invocations",
    )
    response.note = check[0] if check else ""
    off.note = "response latency with the extension disabled; the billed duration is about the same"
    for label, (side, _, function_env) in STEPS.items():
        if function_env:
            off.samples[side] = _warm(raw, label, "response")
            continue
        cold.samples[side] = _cold(raw, label)
        response.samples[side] = _warm(raw, label, "response")
        billed.samples[side] = _warm(raw, label, "billed")
        wall.samples[side] = _warm(raw, label, "wall")
    # The extension-off row compares skiff's fallback with the same prefect and bare samples.
    off.samples["prefect"] = response.samples["prefect"]
    off.samples["floor"] = response.samples["floor"]
    floor_post.samples["floor"] = _posts(raw)
    metrics = [cold, response, billed, off, wall, floor_post]
    if skiff_missing:
        for metric in metrics[:-1]:
            metric.missing["skiff"] = skiff_missing
    return metrics


def table(raw: dict[str, list[dict[str, Any]]], warm: int, rounds: int) -> list[str]:
    """The Lambda benchmark's own table: every side, the ratios and the target check."""
    prefect = _median(_warm(raw, "prefect", "response"))
    prefect_billed = _median(_warm(raw, "prefect", "billed"))
    bare = _median(_warm(raw, "bare handler", "response"))
    lines = [
        f"Lambda (awslambdaric under skiff's emulator, freezing on): {rounds} round(s) x "
        f"(1 cold + {warm} warm) per side; warm medians in ms (after resp.: billed - response)",
        f"  {'side':24} {'cold s':>7} {'response':>9} {'billed':>8} {'after resp.':>11} "
        f"{'caller wall':>11} {'resp./prefect':>13} {'billed/prefect':>14} {'resp./bare':>10}",
    ]
    for label in STEPS:
        if not raw[label]:
            continue
        response = _median(_warm(raw, label, "response")) or 0.0
        billed = _median(_warm(raw, label, "billed")) or 0.0
        pairs = zip(_warm(raw, label, "billed"), _warm(raw, label, "response"), strict=True)
        after = [b - r for b, r in pairs]
        caller = _median(_warm(raw, label, "wall")) or 0.0
        cold = _median(_cold(raw, label)) or 0.0
        lines.append(
            f"  {label:24} {cold:7.2f} {response:9.2f} {billed:8.2f} {_median(after) or 0:11.2f} "
            f"{caller:11.2f} {_ratio(response, prefect):>13} {_ratio(billed, prefect_billed):>14} "
            f"{_ratio(response, bare):>10}"
        )
    posts = _posts(raw)
    if posts:
        lines.append(
            f"  {POST_FLOOR:24} {'':7} {statistics.median(posts):9.2f}   "
            f"(min {min(posts):.2f}, max {max(posts):.2f}, {len(posts)} requests)"
        )
    check = target_check(raw)
    if check is not None:
        lines.append(f"  check: {check[0]}")
    return lines
