"""Plots ``latest.json``: every metric relative to prefect-client's median, on a log scale.

    python benchmarks/plot.py RESULTS.json OUT.png

Runs in the benchmark-only environment that has matplotlib (``.cache/bench-plot``), never in
skiff's. Each row is one metric; prefect-client sits at 1, skiff's bar is its median with a
min-max whisker, and the floor is a black tick.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on a server or in CI
import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

SKIFF, PREFECT = "#2b7bba", "#d95f02"


def _rows(results: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    rows = []
    for bench in results["benchmarks"]:
        for metric in bench.get("metrics", []):
            if metric["summary"]["prefect"] and metric["summary"]["prefect"]["median"] > 0:
                base = metric["summary"]["prefect"]["median"]
                shown = f"{base:,.0f}" if base >= 100 else f"{base:.3g}"
                label = f"{bench['id']}. {metric['name']} (prefect {shown} {metric['unit']})"
                rows.append((label, metric))
    return rows


def main(source: str, target: str) -> None:
    with open(source) as f:
        results = json.load(f)
    rows = _rows(results)
    fig, ax = plt.subplots(figsize=(11, 0.32 * len(rows) + 2.0))
    for y, (_, metric) in enumerate(rows):
        base = metric["summary"]["prefect"]["median"]
        skiff = metric["summary"]["skiff"]
        if skiff and skiff["median"] > 0:
            low, high = skiff["min"] / base, skiff["max"] / base
            mid = skiff["median"] / base
            ax.barh(y, mid, color=SKIFF, height=0.6)
            ax.plot([low, high], [y, y], color="#123b5c", linewidth=1.5)
            # The label goes past the whisker so the two never overlap.
            ax.annotate(
                f"{mid:.2g}x", (max(mid, high), y), xytext=(4, -3), textcoords="offset points",
                fontsize=7,
            )  # fmt: skip
        floor = metric["summary"]["floor"]
        if floor and floor["median"] > 0:
            ax.plot(floor["median"] / base, y, marker="|", color="black", markersize=12, mew=2)
    ax.axvline(1, color=PREFECT, linewidth=2)
    ax.set_xscale("log")
    ax.set_yticks(range(len(rows)), [label for label, _ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("relative to prefect-client's median (log scale; lower is better)")
    meta = results["meta"]
    fig.suptitle(
        f"skiff {meta['skiff']} vs prefect-client {meta['prefect_client']}, "
        f"{meta['date']}, {meta['nproc']} cores",
        fontsize=10,
    )
    legend = [
        Patch(color=SKIFF, label="skiff (median, min-max)"),
        Line2D([], [], color=PREFECT, linewidth=2, label="prefect-client = 1"),
        Line2D(
            [], [], color="black", marker="|", linestyle="", markersize=12, mew=2, label="floor"
        ),
    ]
    ax.legend(handles=legend, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8)
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(target, dpi=120)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
