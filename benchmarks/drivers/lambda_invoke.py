"""Invokes one handler through skiff's Lambda emulator and the real awslambdaric; used by b6.

    python lambda_invoke.py --emulator PATH --handler MODULE.handler --task-root DIR
                            --warm K --out FILE

The emulator starts the runtime as ``sys.executable -m awslambdaric``, so this script runs
under the interpreter of the side being measured (prefect-client's environment has
awslambdaric too). The emulator module uses only the standard library; it is loaded from its
file so that environment needs no skiff. The first invocation is cold (runtime start, handler
import, init); K warm ones follow, the sandbox frozen in between as Lambda does.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any


def _load(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("skiff_lambda_emulator", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while decorating
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--emulator", required=True)
    parser.add_argument("--handler", required=True)
    parser.add_argument("--task-root", required=True)
    parser.add_argument("--warm", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    emulator = _load(args.emulator)
    config = emulator.FunctionConfig("bench", args.handler, args.task_root, timeout=args.timeout)
    walls: list[float] = []
    durations: list[float] = []
    with emulator.LambdaEmulator([config]) as emu:
        for index in range(1 + args.warm):
            start = time.perf_counter()
            result: Any = emu.invoke("bench", {"index": index})
            walls.append(time.perf_counter() - start)
            if result.status != "success" or result.cold_start != (index == 0):
                log = Path(emu.log_path("bench") or "/dev/null").read_text()[-3000:]
                raise SystemExit(f"invocation {index}: {result.status} {result.payload}\n{log}")
            durations.append(result.duration)
    with open(args.out, "w") as out:
        json.dump({"walls": walls, "durations": durations}, out)


if __name__ == "__main__":
    main()
