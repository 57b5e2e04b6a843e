"""2. Install footprint: distributions and MB in a fresh environment.

skiff is installed from a wheel built from the working tree, once for the core and once per
extra; prefect-client 3.9.0 with the certifi override it needs; the floor is httpx and msgspec
alone. Every install goes into a new ``uv venv`` (no pip, no setuptools), so the counts are
exactly what the package pulls in. The numbers are deterministic, so this runs once.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks._common import ROOT, Context, Metric, progress
from scripts.prefect_server import OVERRIDES, uv_command

TITLE = "Install footprint"
EXTRAS = ["aws", "gcp", "azure", "crypto", "blocks"]
PREFECT_CLIENT = "prefect-client==3.9.0"
FLOOR = ["httpx", "msgspec"]


def _footprint(uv: list[str], env_dir: Path, requirements: list[str]) -> tuple[int, float]:
    """(distributions, MB of site-packages) of a fresh environment holding ``requirements``."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    subprocess.run([*uv, "venv", "-q", "-p", python, str(env_dir)], check=True)
    overrides = env_dir / "overrides.txt"
    overrides.write_text(OVERRIDES)  # prefect pins a certifi the registry lacks
    subprocess.run(
        [
            *uv,
            "pip",
            "install",
            "-q",
            "--python",
            str(env_dir / "bin" / "python"),
            "--override",
            str(overrides),
            *requirements,
        ],
        check=True,
    )
    (site,) = env_dir.glob("lib/python*/site-packages")
    dists = len(list(site.glob("*.dist-info")))
    size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file() and not p.is_symlink())
    shutil.rmtree(env_dir)
    return dists, size / 1e6


def run(ctx: Context) -> list[Metric]:
    uv = uv_command()
    dist_dir = ctx.scratch / "dist"
    progress(f"{TITLE}: building the skiff wheel")
    subprocess.run(
        [*uv, "build", "-q", "--wheel", "--out-dir", str(dist_dir), str(ROOT)], check=True
    )
    (wheel,) = dist_dir.glob("skiff-*.whl")
    targets = {"core": str(wheel)} | {
        extra: f"skiff[{extra}] @ {wheel.as_uri()}" for extra in EXTRAS
    }
    floor_label = "httpx + msgspec"
    progress(f"{TITLE}: {PREFECT_CLIENT}")
    prefect = _footprint(uv, ctx.scratch / "env-prefect", [PREFECT_CLIENT])
    progress(f"{TITLE}: {floor_label}")
    floor = _footprint(uv, ctx.scratch / "env-floor", FLOOR)
    metrics = []
    for name, requirement in targets.items():
        progress(f"{TITLE}: skiff {name}")
        skiff = _footprint(uv, ctx.scratch / f"env-skiff-{name}", [requirement])
        label = "skiff" if name == "core" else f"skiff[{name}]"
        dists = Metric(f"install {label}: distributions", "dists", floor_label)
        size = Metric(f"install {label}: size", "MB", floor_label, note="site-packages, no .pyc")
        for index, metric in enumerate((dists, size)):
            metric.add("skiff", skiff[index])
            metric.add("prefect", prefect[index])
            metric.add("floor", floor[index])
        metrics += [dists, size]
    return metrics
