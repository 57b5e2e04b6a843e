"""Run a compat program under Prefect or skiff and normalize what the server recorded.

Shared by ``scripts/compat.py`` (records real Prefect 3.9.1's side once) and
``tests/compat/test_compat.py`` (runs skiff's side on every test run).

A program is written once with ``from prefect ...`` imports; :func:`rewrite` turns them into
``skiff`` imports, mechanically, the way a user ports a flow. Programs run one after another,
each in its own process with a fresh ``PREFECT_HOME``; the runs it made are found by the time
window of its process (``expected_start_time``), so nothing in a program has to cooperate.

Normalization removes only what differs from one run to the next: ids, timestamps,
generated run names ("big-auk"), the random part of task-run names and dynamic keys, the
hash in ``task_key`` and in ``flow_version`` (they hash a file path or file contents), the
scratch path of the program, and traceback frames outside the program itself (engine
internals). Everything else is kept: names, states with messages, state histories, run
counts, tags, parameters, task inputs, parent links, logger names, levels, messages,
artifacts, stdout and the exit code.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
PROGRAMS = HERE / "programs"
RECORDED = HERE / "recorded"
ROOT = HERE.parents[1]

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
HEX_UUID = re.compile(r"\b[0-9a-f]{32}\b")
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?")
ADDR = re.compile(r"0x[0-9a-f]{6,}|\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{12}\b")  # id()s
DURATION = re.compile(r"\b\d+\.\d+\s*(s|sec|secs|seconds)\b")
GENERATED = re.compile(r"^([a-z]+)-([a-z]+)$")
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def programs() -> list[str]:
    """The program names, sorted."""
    return sorted(p.stem for p in PROGRAMS.glob("*.py") if not p.name.startswith("_"))


def rewrite(source: str) -> str:
    """``prefect`` imports become ``skiff`` imports; nothing else changes.

    ``from prefect.x import y`` -> ``from skiff.x import y``; ``import prefect`` ->
    ``import skiff as prefect``; ``import prefect.x as y`` -> ``import skiff.x as y``.
    """
    source = re.sub(r"(?m)^(\s*)from prefect(?=[.\s])", r"\1from skiff", source)

    def _import(m: re.Match[str]) -> str:
        indent, dotted, alias = m[1], m[2], m[3] or ""
        if alias or dotted:
            return f"{indent}import skiff{dotted}{alias}"
        return f"{indent}import skiff as prefect"

    return re.sub(r"(?m)^(\s*)import prefect((?:\.\w+)*)(\s+as\s+\w+)?[ \t]*$", _import, source)


@dataclass
class Run:
    """One program's process: its output and the time window its runs fall in."""

    program: str
    side: str
    returncode: int
    stdout: str
    stderr: str
    started: datetime
    ended: datetime
    path: str
    seconds: float
    tag: str


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def run_program(
    program: str, side: str, python: str, api_url: str, scratch: Path, timeout: float = 90
) -> Run:
    """Run one program under ``side`` ("prefect" or "skiff") with ``python``."""
    source = (PROGRAMS / f"{program}.py").read_text()
    folder = scratch / f"{side}-{program}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{program}.py"
    path.write_text(source if side == "prefect" else rewrite(source))
    tag = uuid.uuid4().hex[:10]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SKIFF_"))}
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    env.update(
        PREFECT_API_URL=api_url,
        PREFECT_HOME=str(folder / "home"),
        PREFECT_LOCAL_STORAGE_PATH=str(folder / "home" / "storage"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        # Prefect's default serializer, which skiff (json by default) honours, and skiff's
        # setting to read such records back: the records compared are then written and
        # read alike.
        PREFECT_RESULTS_DEFAULT_SERIALIZER="pickle",
        SKIFF_ALLOW_PICKLE_RESULTS="1",
        COMPAT_TAG=tag,
        PYTHONHASHSEED="0",
    )
    if side == "skiff":
        env["PYTHONPATH"] = str(ROOT)
    started = datetime.now(timezone.utc)
    t0 = time.monotonic()
    try:
        done = subprocess.run(
            [python, path.name],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        code, out, err = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        code = -999
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = "timeout"
    seconds = time.monotonic() - t0
    ended = datetime.now(timezone.utc)
    return Run(program, side, code, out, err, started, ended, str(path), seconds, tag)


class _Server:
    def __init__(self, api_url: str) -> None:
        self.http = httpx.Client(base_url=api_url, timeout=30)

    def post(self, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            page = self.http.post(path, json={**body, "offset": len(out), "limit": 200})
            page.raise_for_status()
            rows = page.json()
            out.extend(rows)
            if len(rows) < 200:
                return out

    def states(self, kind: str, run_id: str) -> list[dict[str, Any]]:
        reply = self.http.get(f"/{kind}_run_states/", params={f"{kind}_run_id": run_id})
        reply.raise_for_status()
        return sorted(reply.json(), key=lambda s: s["timestamp"])


def raw_records(api_url: str, run: Run) -> dict[str, Any]:
    """Everything the server holds for one program's runs, unnormalized."""
    server = _Server(api_url)
    window = {"after_": _iso(run.started), "before_": _iso(run.ended)}
    flows = server.post("/flow_runs/filter", {"flow_runs": {"expected_start_time": window}})
    tasks = server.post("/task_runs/filter", {"task_runs": {"expected_start_time": window}})
    flow_ids = [f["id"] for f in flows]
    task_ids = [t["id"] for t in tasks]
    logs: dict[str, dict[str, Any]] = {}
    artifacts: dict[str, dict[str, Any]] = {}
    if flow_ids:
        for row in server.post("/logs/filter", {"logs": {"flow_run_id": {"any_": flow_ids}}}):
            logs[row["id"]] = row
        for row in server.post(
            "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": flow_ids}}}
        ):
            artifacts[row["id"]] = row
    if task_ids:
        for row in server.post("/logs/filter", {"logs": {"task_run_id": {"any_": task_ids}}}):
            logs[row["id"]] = row
        for row in server.post(
            "/artifacts/filter", {"artifacts": {"task_run_id": {"any_": task_ids}}}
        ):
            artifacts[row["id"]] = row
    names = {f["flow_id"]: server.http.get(f"/flows/{f['flow_id']}").json()["name"] for f in flows}
    for f in flows:
        f["_flow_name"] = names[f["flow_id"]]
        f["_history"] = server.states("flow", f["id"])
    for t in tasks:
        t["_history"] = server.states("task", t["id"])
    return {
        "flows": flows,
        "tasks": tasks,
        "logs": sorted(logs.values(), key=lambda r: r["timestamp"]),
        "artifacts": sorted(artifacts.values(), key=lambda r: r["created"]),
    }


def snapshot(api_url: str, runs: list[Run]) -> list[Any]:
    """A cheap fingerprint of the task runs, flow runs and logs of ``runs``: stable = settled."""
    server = _Server(api_url)
    out: list[Any] = []
    for run in runs:
        window = {"after_": _iso(run.started), "before_": _iso(run.ended)}
        for kind in ("flow", "task"):
            rows = server.post(
                f"/{kind}_runs/filter", {f"{kind}_runs": {"expected_start_time": window}}
            )
            out.append(sorted((r["id"], r["state_type"], r["state_name"]) for r in rows))
    return out


def settle(api_url: str, runs: list[Run], timeout: float = 60, quiet: float = 1.5) -> float:
    """Poll until the server's records for ``runs`` stop changing (bounded); return seconds."""
    t0 = time.monotonic()
    last = snapshot(api_url, runs)
    stable_since = time.monotonic()
    while time.monotonic() - t0 < timeout:
        time.sleep(0.5)
        now = snapshot(api_url, runs)
        if now != last:
            last, stable_since = now, time.monotonic()
            continue
        pending = any(state not in FINAL for rows in now for (_, state, _) in rows)
        if time.monotonic() - stable_since >= (quiet * 3 if pending else quiet):
            break
    return time.monotonic() - t0


class _Names:
    """Normalized names for runs, so messages that mention them normalize the same way."""

    def __init__(self, source: str, tag: str) -> None:
        self.source = source
        self.tag = tag
        self.raw_to_norm: dict[str, str] = {}

    def flow_run(self, name: str) -> str:
        if GENERATED.match(name) and name not in self.source:
            self.raw_to_norm[name] = "<generated>"
            return "<generated>"
        return name

    def task_run(self, name: str, dynamic_key: str) -> str:
        norm = name
        if UUID.fullmatch(dynamic_key) and name.endswith("-" + dynamic_key[:3]):
            norm = name[: -len(dynamic_key[:3])] + "<dk>"
        norm = re.sub(r"-[0-9a-f]{8}-[0-9a-f]{32}$", "-<key>-<uuid>", norm)
        if norm != name:
            self.raw_to_norm[name] = norm
        return norm

    def text(self, text: str, program_path: str) -> str:
        text = text.replace(program_path, "<program>")
        text = text.replace(str(Path(program_path).parent), "<folder>")
        text = text.replace(self.tag, "<tag>")
        for raw in sorted(self.raw_to_norm, key=len, reverse=True):
            text = re.sub(rf"(?<![\w-]){re.escape(raw)}(?![\w-])", self.raw_to_norm[raw], text)
        text = UUID.sub("<uuid>", text)
        text = HEX_UUID.sub("<hex>", text)
        text = ISO_TIME.sub("<time>", text)
        text = ADDR.sub("<addr>", text)
        return DURATION.sub("<duration>", text)


def _traceback(text: str) -> str:
    """Keep the frames of the program itself; engine frames are implementation details."""
    if "Traceback (most recent call last):" not in text:
        return text
    out: list[str] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("  File "):
            keep = '"<program>"' in line
            j = i + 1
            while j < len(lines) and lines[j].startswith("    "):
                j += 1
            if keep:
                out.append(line)
                out.extend(s for s in lines[i + 1 : j] if s.strip().strip("^~") != "")
            i = j
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def _version_kind(version: str | None, source: str) -> str | None:
    if version is None:
        return None
    if re.fullmatch(r"[0-9a-f]{32}", version):
        return "<md5>"
    if f'"{version}"' in source or f"'{version}'" in source:
        return version
    return "<other>"


def _key(record: Any) -> str:
    return json.dumps(record, sort_keys=True, default=str)


def normalize(run: Run, raw: dict[str, Any]) -> dict[str, Any]:
    """The comparable record of one program's run."""
    source = Path(run.path).read_text()
    names = _Names(source, run.tag)
    flows = sorted(raw["flows"], key=lambda f: f["expected_start_time"])
    tasks = sorted(raw["tasks"], key=lambda t: t["expected_start_time"])
    flow_ident: dict[str, str] = {}
    seen: dict[str, int] = {}
    for f in flows:
        base = f"{f['_flow_name']}/{names.flow_run(f['name'])}"
        seen[base] = seen.get(base, 0) + 1
        flow_ident[f["id"]] = base if seen[base] == 1 else f"{base}#{seen[base]}"
    task_name: dict[str, str] = {}
    for t in tasks:
        task_name[t["id"]] = names.task_run(t["name"], t["dynamic_key"])

    def text(value: str | None) -> str | None:
        return None if value is None else _traceback(names.text(value, run.path))

    def state(row: dict[str, Any]) -> list[Any]:
        st = row.get("state") or {}
        return [row["state_type"], row["state_name"], text(st.get("message"))]

    def history(rows: list[dict[str, Any]]) -> list[list[str]]:
        return [[s["type"], s["name"]] for s in rows]

    def task_ref(task_id: str | None) -> str | None:
        if task_id is None:
            return None
        return task_name.get(task_id, "<unknown task run>")

    def policy(p: dict[str, Any]) -> dict[str, Any]:
        return {"retries": p.get("retries"), "retry_delay": p.get("retry_delay")}

    flow_records = []
    for f in flows:
        parent = f["parent_task_run_id"]
        parent_task = next((t for t in tasks if t["id"] == parent), None)
        flow_records.append(
            {
                "run": flow_ident[f["id"]],
                "flow": f["_flow_name"],
                "state": state(f),
                "history": history(f["_history"]),
                "parameters": json.loads(names.text(json.dumps(f["parameters"]), run.path)),
                "tags": sorted(f["tags"]),
                "run_count": f["run_count"],
                "flow_version": _version_kind(f["flow_version"], source),
                "empirical_policy": policy(f["empirical_policy"]),
                "parent": None
                if parent is None
                else {
                    "task_run": task_ref(parent),
                    "in": parent_task and flow_ident.get(parent_task["flow_run_id"] or ""),
                },
            }
        )

    def inputs(task_inputs: dict[str, list[dict[str, Any]]]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for param, refs in task_inputs.items():
            items = []
            for ref in refs:
                if ref.get("input_type") == "task_run":
                    items.append(f"task_run:{task_ref(ref['id'])}")
                else:
                    items.append({k: v for k, v in ref.items() if k != "id"})
            out[param] = sorted(items, key=_key)
        return out

    task_records = sorted(
        (
            {
                "flow_run": flow_ident.get(t["flow_run_id"] or "", t["flow_run_id"] and "<other>"),
                "name": task_name[t["id"]],
                "task_key": re.sub(r"-[0-9a-f]{8}$", "-<hash>", t["task_key"]),
                "dynamic_key": "<uuid>"
                if UUID.fullmatch(t["dynamic_key"])
                else names.text(t["dynamic_key"], run.path).replace(
                    t["task_key"], re.sub(r"-[0-9a-f]{8}$", "-<hash>", t["task_key"])
                ),
                "state": state(t),
                "history": history(t["_history"]),
                "run_count": t["run_count"],
                "tags": sorted(t["tags"]),
                "inputs": inputs(t["task_inputs"]),
                "cache_key": t["cache_key"] is not None,
                "cache_expiration": t["cache_expiration"] is not None,
                "empirical_policy": policy(t["empirical_policy"]),
                "task_version": _version_kind(t["task_version"], source),
            }
            for t in tasks
        ),
        key=_key,
    )

    groups: dict[tuple[str | None, str | None], list[list[Any]]] = {}
    for log in raw["logs"]:
        group = (log["flow_run_id"], log["task_run_id"])
        groups.setdefault(group, []).append([log["name"], log["level"], text(log["message"])])
    log_records = sorted(
        (
            {
                "flow_run": flow_ident.get(fid or "", fid and "<other>"),
                "task_run": task_ref(tid),
                "lines": lines,
            }
            for (fid, tid), lines in groups.items()
        ),
        key=_key,
    )
    artifact_records = sorted(
        (
            {
                "key": a["key"],
                "type": a["type"],
                "description": text(a["description"]),
                "data": json.loads(names.text(json.dumps(a["data"]), run.path)),
                "flow_run": flow_ident.get(a["flow_run_id"] or "", a["flow_run_id"] and "<other>"),
                "task_run": task_ref(a["task_run_id"]),
            }
            for a in raw["artifacts"]
        ),
        key=_key,
    )
    return {
        "program": run.program,
        "exit_code": run.returncode,
        "stdout": names.text(run.stdout, run.path).splitlines(),
        "flow_runs": flow_records,
        "task_runs": task_records,
        "logs": log_records,
        "artifacts": artifact_records,
    }


FIELDS = ("exit_code", "stdout", "flow_runs", "task_runs", "logs", "artifacts")


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """The fields that differ, each with a short description."""
    out = []
    for name in FIELDS:
        if expected.get(name) != actual.get(name):
            out.append(name)
    return out


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="skiff-compat-"))


def _short(value: Any, width: int = 160) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= width else text[: width - 3] + "..."


def _pairs(
    expected: list[dict[str, Any]], actual: list[dict[str, Any]], key: tuple[str, ...]
) -> tuple[list[tuple[dict[str, Any], dict[str, Any]]], list[Any], list[Any]]:
    """Match records by ``key`` (in order among equals); return pairs, only-expected, only-actual."""
    left: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in expected:
        left.setdefault(tuple(row.get(k) for k in key), []).append(row)
    pairs, extra = [], []
    for row in actual:
        bucket = left.get(tuple(row.get(k) for k in key))
        if bucket:
            pairs.append((bucket.pop(0), row))
        else:
            extra.append(tuple(row.get(k) for k in key))
    missing = [k for k, rows in left.items() for _ in rows]
    return pairs, missing, extra


def describe(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Short lines saying how ``actual`` (skiff) differs from ``expected`` (Prefect)."""
    out: list[str] = []
    if expected.get("exit_code") != actual.get("exit_code"):
        out.append(f"exit code {expected.get('exit_code')} -> {actual.get('exit_code')}")
    if expected.get("stdout") != actual.get("stdout"):
        out.append(f"stdout {_short(expected.get('stdout'))} -> {_short(actual.get('stdout'))}")
    for field, key in (("flow_runs", ("run",)), ("task_runs", ("flow_run", "name"))):
        pairs, missing, extra = _pairs(expected.get(field, []), actual.get(field, []), key)
        for k in missing:
            out.append(f"{field}: only Prefect has {'/'.join(map(str, k))}")
        for k in extra:
            out.append(f"{field}: only skiff has {'/'.join(map(str, k))}")
        for left, right in pairs:
            for name in sorted(set(left) | set(right)):
                if left.get(name) != right.get(name):
                    who = "/".join(str(left.get(k)) for k in key)
                    out.append(
                        f"{field} {who}: {name} {_short(left.get(name))} -> "
                        f"{_short(right.get(name))}"
                    )
    if expected.get("logs") != actual.get("logs"):
        lines_p = [tuple(line) for g in expected.get("logs", []) for line in g["lines"]]
        lines_s = [tuple(line) for g in actual.get("logs", []) for line in g["lines"]]
        only_p = [x for x in lines_p if x not in lines_s]
        only_s = [x for x in lines_s if x not in lines_p]
        for line in only_p:
            out.append(f"logs: only Prefect logs {_short(list(line), 110)}")
        for line in only_s:
            out.append(f"logs: only skiff logs {_short(list(line), 110)}")
        if not only_p and not only_s:
            out.append("logs: same lines, grouped or ordered differently")
    if expected.get("artifacts") != actual.get("artifacts"):
        pairs, missing, extra = _pairs(
            expected.get("artifacts", []), actual.get("artifacts", []), ("key", "type")
        )
        out.extend(f"artifacts: only Prefect has {k}" for k in missing)
        out.extend(f"artifacts: only skiff has {k}" for k in extra)
        out.extend(
            f"artifacts {a.get('key')}: differ {_short(a)} -> {_short(b)}"
            for a, b in pairs
            if a != b
        )
    return out


# How a line of :func:`describe` reads as a cause; the first match wins. Used to write the
# reasons in ``known_differences.py`` and to group them into the work list.
CAUSES: list[tuple[str, str]] = [
    (r"^exit code", "exits differently"),
    (r"^stdout", "prints differently"),
    (r"flow_runs: only Prefect has", "flow runs missing"),
    (r"task_runs: only Prefect has", "task runs missing"),
    (r"only skiff has", "extra runs or artifacts"),
    (
        r"flow_runs .*: history \[\[\"PENDING\", \"Pending\"\], \[\"RUNNING\"",
        "flow history lacks Pending",
    ),
    (r"flow_runs .*: history", "flow history differs"),
    (r"flow_runs .*: flow_version", "flow_version unset (Prefect: md5 of the flow's file)"),
    (r"(flow|task)_runs .*: empirical_policy .*retry_delay", "empirical_policy.retry_delay null"),
    (
        r"task_runs .*: history \[\[\"PENDING\", \"Pending\"\], \[\"PENDING\", \"Pending\"\]",
        "subflow's parent task history differs",
    ),
    (
        r"task_runs .*: history \[\[\"PENDING\", \"Pending\"\], \[\"RUNNING\", \"Running\"\], "
        r"\[\"\w+\", \"\w+\"\]\] -> \[\[\"\w+\", \"\w+\"\]\]$",
        "task history only the final state",
    ),
    (r"task_runs .*: history .*(Retry|Awa)", "retry history differs"),
    (r"task_runs .*: history", "task history differs"),
    (r"task_runs .*: task_version", "subflow task_version unset"),
    (r"task_runs .*: cache_key", "cache_key recorded (Prefect: null)"),
    (r"task_runs .*: run_count", "run_count differs"),
    (r"task_runs .*: inputs .*__parents__", "no __parents__ input for a nested task"),
    (r"(flow|task)_runs .*: state", "final state differs"),
    (r"(flow|task)_runs .*: parameters", "parameters differ"),
    (r"(flow|task)_runs .*: tags", "tags differ"),
    (r"(flow|task)_runs .*: (name|parent|run)", "names or links differ"),
    (
        r"logs: only Prefect logs \[\"prefect\.\w+\", \d+, \"(Beginning (sub)?flow run|Finished in state|Task run failed with|Encountered exception during|Received non-final state|Task run exceeded|Flow run exceeded|Running hook|Hook '|Task run failed with state)",
        "no engine log lines",
    ),
    (
        r"logs: only (Prefect|skiff) logs \[\"(prefect|skiff)\.(flow|task)_runs",
        "user log lines differ (logger name)",
    ),
    (r"logs: only Prefect logs .*Concurrency limits", "no engine log lines"),
    (r"^logs", "logs differ"),
    (r"artifacts: only Prefect has \(None, None\)", "no result artifacts for failed states"),
    (r"^artifacts", "artifacts differ"),
]


def causes(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """The causes of the differences, in a fixed order, each once."""
    found: list[str] = []
    for line in describe(expected, actual):
        for pattern, cause in CAUSES:
            if re.search(pattern, line):
                if cause not in found:
                    found.append(cause)
                break
        else:
            found.append(line)
    order = [c for _, c in CAUSES]
    return sorted(found, key=lambda c: order.index(c) if c in order else len(order))


def failure(run: Run, expected_exit: int) -> str | None:
    """``"fails: <error>"`` when the program exited differently from Prefect's, else None.

    The error is the last line of stderr, without file paths or the exception's module.
    """
    if run.returncode == expected_exit:
        return None
    lines = [line for line in run.stderr.strip().splitlines() if line.strip()]
    # The exception line, not a warning the reporter may print at exit after it.
    errors = [line for line in lines if re.match(r"(\w+\.)*\w+(Error|Exception)\b", line)]
    last = errors[-1] if errors else lines[-1] if lines else f"exit code {run.returncode}"
    last = re.sub(r" \(/[^)]*\)", "", last)
    last = re.sub(r"^(?:\w+\.)+(\w+:)", r"\1", last)
    return f"fails: {last}"


def reason(run: Run, expected: dict[str, Any], actual: dict[str, Any]) -> str:
    """The reason line for ``known_differences.py``: the failure, then the causes."""
    consequences = {"exits differently", "prints differently", "flow runs missing"}
    found = causes(expected, actual)
    head = failure(run, expected.get("exit_code", 0))
    if head is None:
        return "; ".join(found)
    rest = [c for c in found if c not in consequences and c != "task runs missing"]
    return f"{head} -- {'; '.join(rest)}"
