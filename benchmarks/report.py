"""Renders ``latest.json`` as the Markdown table the README shows (``latest.md``)."""

from __future__ import annotations

from typing import Any


def _num(value: float) -> str:
    """Three significant digits, without scientific notation for the sizes seen here."""
    if value == int(value):
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _median(summary: dict[str, float] | None) -> str:
    return _num(summary["median"]) if summary else "n/a"


def _span(summary: dict[str, float] | None) -> str:
    if not summary:
        return ""
    return f"{_num(summary['min'])}-{_num(summary['max'])}"


def header(meta: dict[str, Any]) -> str:
    return (
        f"Measured {meta['date']} on {meta['nproc']} cores ({meta['cpu']}), "
        f"Python {meta['python']}: skiff {meta['skiff']} ({meta['commit']}), "
        f"prefect-client {meta['prefect_client']} against a Prefect {meta['prefect_server']} "
        f"server on SQLite, httpx {meta['httpx']}, msgspec {meta['msgspec']}. "
        f"Rounds: {meta['rounds']}, sides alternating (skiff, prefect, floor); "
        f"the suite took {meta['elapsed_s'] / 60:.1f} min. Rerun with `bash scripts/bench`."
    )


def render(results: dict[str, Any]) -> str:
    lines = [
        "### Benchmarks: skiff vs prefect-client",
        "",
        header(results["meta"]),
        "",
        "Medians with min-max over all samples; lower is better everywhere. The floor is the "
        "least any client could do for the same work, measured in the same run.",
        "",
        "| metric | skiff | skiff min-max | prefect-client | prefect min-max "
        "| skiff / prefect | floor | floor is |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    notes = []
    for bench in results["benchmarks"]:
        lines.append(f"| **{bench['id']}. {bench['title']}** |||||||")
        if bench["status"] != "ok":
            lines.append(f"| {bench['status']} |||||||")
            continue
        for metric in bench["metrics"]:
            summary = metric["summary"]
            ratio = metric["ratio"]
            lines.append(
                f"| {metric['name']} ({metric['unit']}) "
                f"| {_median(summary['skiff'])} | {_span(summary['skiff'])} "
                f"| {_median(summary['prefect'])} | {_span(summary['prefect'])} "
                f"| {f'{ratio:.2f}x' if ratio is not None else ''} "
                f"| {_median(summary['floor'])} | {metric['floor_label']} |"
            )
            for side, reason in metric["missing"].items():
                note = f"{bench['id']}. {bench['title']}: {side} not available: {reason}"
                if note not in notes:
                    notes.append(note)
    if notes:
        lines += ["", "Not measured in this run:", "", *(f"- {note}" for note in notes)]
    lines += ["", "![skiff and the floor relative to prefect-client](latest.png)", ""]
    return "\n".join(lines)
