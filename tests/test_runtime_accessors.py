"""``skiff.runtime`` (flow_run, task_run, deployment) against the real server and real Prefect.

The same probe, written with ``prefect`` imports, runs under Prefect 3.9.1's own Python and,
rewritten, under skiff; every attribute's type and value (ids replaced by their role) must
match. Outside a run it runs under environments that cover each source Prefect reads: none,
``PREFECT__RUNTIME__*`` overrides, ``PREFECT__FLOW_RUN_ID`` naming runs made here with
skiff's client (a deployment's run, its subflow's, that one's subflow's), bad ids and
overrides, and URL settings. Inside runs the same flows run under both. Known deviations
from Prefect are spelled out where the expected rows are adjusted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from skiff import ConfigurationError, NotFoundError
from skiff.client import Client
from skiff.client.models import StateCreate
from tests.compat import harness

ROOT = Path(__file__).resolve().parents[1]
PREFECT_PYTHON = ROOT / ".cache" / "prefect-server-3.9.1" / "bin" / "python"
FLOW_NAME = "skiff-runtime-accessors"

# Prints every attribute as "type repr" (ids replaced by roles from RT_ROLES), or what it
# raises (its first builtin exception class). PROBE_ATTRS limits it to "module.name"s.
PROBE = r"""
import datetime, json, os, re

from prefect.runtime import deployment, flow_run, task_run

ROLES = json.loads(os.environ.get("RT_ROLES", "{}"))
ONLY = os.environ.get("PROBE_ATTRS", "").split()


def shown(value):
    if isinstance(value, datetime.datetime):
        return f"datetime utc={value.utcoffset() == datetime.timedelta(0)}"
    text = repr(value)
    for role, found in ROLES.items():
        if found:
            text = text.replace(found, role)
    text = re.sub(r"'(\w+)-[0-9a-f]{3}'", r"'\1-<n>'", text)
    text = re.sub(r"'[0-9a-f]{32}'", "'<hash>'", text)
    text = re.sub(r"^'[a-z]+-[a-z]+'$", "'<generated>'", text)
    return f"{type(value).__name__} {text}"


def snapshot(where):
    rows = []
    for module in (flow_run, task_run, deployment):
        short = module.__name__.rsplit(".", 1)[1]
        for name in sorted(module.__all__) + ["custom", "nope"]:
            if ONLY and f"{short}.{name}" not in ONLY:
                continue
            try:
                value = shown(getattr(module, name))
            except Exception as exc:
                base = next(b for b in type(exc).__mro__ if b.__module__ == "builtins")
                value = f"raises {base.__name__}"
                if isinstance(exc, AttributeError):
                    value += " " + str(exc).replace("prefect.", "skiff.")
            rows.append([where, short, name, value])
    rows.append([where, "dir", sorted(dir(flow_run)) == sorted(flow_run.__all__)])
    return rows
"""

OUTSIDE = PROBE + "\nprint(json.dumps(snapshot('outside')))\n"

IN_RUN = (
    PROBE
    + r"""
from prefect import flow, task


@task(tags=["t1"], task_run_name="look-{n}")
def look(n: int) -> list:
    ROLES["<task>"] = task_run.id
    return snapshot("task")


@flow(name="skiff-runtime-in-run", flow_run_name="rt-{x}")
def outer(x: int = 1, label: str = "a") -> list:
    ROLES["<flow>"] = flow_run.id
    return snapshot("flow") + look(x)


if __name__ == "__main__":
    rows = outer(x=3)
    ROLES.clear()
    print(json.dumps(rows + snapshot("after")))
"""
)

SUBFLOWS = (
    PROBE
    + r"""
import datetime

from prefect import flow


@flow(name="skiff-runtime-child")
def child() -> list:
    ROLES["<child>"] = flow_run.id
    return snapshot("child")


@flow(name="skiff-runtime-parent")
def parent(when: datetime.date = datetime.date(2024, 1, 2)) -> list:
    ROLES["<parent>"] = flow_run.id
    return snapshot("parent") + child()


if __name__ == "__main__":
    print(json.dumps(parent()))
"""
)

# Run by Prefect's engine from the deployment's entrypoint; skiff takes the run over.
DEPLOYED = (
    PROBE
    + rf'''
from prefect import flow


@flow(name="skiff-runtime-inner")
def inner() -> list:
    ROLES["<inner>"] = flow_run.id
    return snapshot("inner")


@flow(name="{FLOW_NAME}")
def deployed(x: int = 1) -> None:
    rows = snapshot("flow") + inner()
    with open(os.environ["RT_OUT"], "w") as out:
        json.dump(rows, out)


if __name__ == "__main__":
    deployed()
'''
)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT", "SKIFF_"))}
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    env["PREFECT_LOGGING_LEVEL"] = "CRITICAL"
    env.update(extra)
    return env


def run_probe(
    source: str, side: str, env: dict[str, str], tmp_path: Path, args: tuple[str, ...] = ()
) -> Any:
    """Run ``source`` under real Prefect or (rewritten) skiff; return the JSON it printed."""
    if side == "prefect" and not PREFECT_PYTHON.exists():
        pytest.skip(f"real Prefect is not installed at {PREFECT_PYTHON}")
    path = tmp_path / f"{side}_probe.py"
    path.write_text(source if side == "prefect" else harness.rewrite(source))
    env = {**env, "PREFECT_HOME": str(tmp_path / f"{side}-home")}
    if side == "skiff":
        env["PYTHONPATH"] = str(ROOT)
    python = str(PREFECT_PYTHON) if side == "prefect" else sys.executable
    done = subprocess.run(
        [python, *args] if args else [python, path.name],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, f"{side} failed:\n{done.stderr[-4000:]}"
    out = env.get("RT_OUT")
    return json.loads(Path(out).read_text() if out else done.stdout.splitlines()[-1])


def rows_by_key(rows: list[list[Any]]) -> dict[str, Any]:
    return {"/".join(map(str, row[:-1])): row[-1] for row in rows}


def assert_same(prefect: list[list[Any]], skiff: list[list[Any]]) -> None:
    expected, actual = rows_by_key(prefect), rows_by_key(skiff)
    differing = [
        f"{key}: Prefect {expected.get(key)!r}, skiff {actual.get(key)!r}"
        for key in sorted(expected.keys() | actual.keys())
        if expected.get(key) != actual.get(key)
    ]
    assert not differing, "\n".join(differing)


# ------------------------------------------------------------------- runs on the server
@pytest.fixture(scope="module")
def runs(prefect_api_url: str) -> dict[str, str]:
    """A deployment's run (root), its subflow's run (mid), and that one's subflow's (leaf)."""
    with Client(prefect_api_url) as client:
        flow = client.flows.create(name=FLOW_NAME)
        dep = client.deployments.create(
            flow_id=flow.id,
            name=f"rt-{uuid.uuid4().hex[:8]}",
            version="v7",
            parameters={"x": 1, "y": "two"},
        )
        root = client.flow_runs.create(
            flow_id=flow.id, name="rt-root", tags=["r"], deployment_id=dep.id, parameters={"x": 1}
        )
        stand_in = client.task_runs.create(
            flow_run_id=root.id, name="child-0", task_key="child", dynamic_key="0"
        )
        mid = client.flow_runs.create(
            flow_id=flow.id,
            name="rt-mid",
            tags=["m", "n"],
            parent_task_run_id=stand_in.id,
            parameters={"a": [1, 2], "b": {"c": None}},
            flow_version="fv1",
        )
        stand_in = client.task_runs.create(
            flow_run_id=mid.id, name="leaf-0", task_key="leaf", dynamic_key="0"
        )
        leaf = client.flow_runs.create(
            flow_id=flow.id, name="rt-leaf", parent_task_run_id=stand_in.id
        )
    return {
        "<root>": str(root.id),
        "<mid>": str(mid.id),
        "<leaf>": str(leaf.id),
        "<dep>": str(dep.id),
        "<dname>": dep.name,
    }


OVERRIDES = {
    "PREFECT__RUNTIME__FLOW_RUN__ID": "abc",
    "PREFECT__RUNTIME__FLOW_RUN__NAME": "nm",
    "PREFECT__RUNTIME__FLOW_RUN__RUN_COUNT": "07",
    "PREFECT__RUNTIME__FLOW_RUN__TAGS": "a,b",  # a list: cannot be overridden
    "PREFECT__RUNTIME__FLOW_RUN__PARAMETERS": "{}",  # a dict: neither
    "PREFECT__RUNTIME__FLOW_RUN__JOB_VARIABLES": "jv",  # None outside a run: the text
    "PREFECT__RUNTIME__FLOW_RUN__API_URL": "u",
    "PREFECT__RUNTIME__FLOW_RUN__CUSTOM": "zz",  # not an attribute: the text
    "PREFECT__RUNTIME__TASK_RUN__RUN_COUNT": "x",  # not a whole number
    "PREFECT__RUNTIME__TASK_RUN__NAME": "tn",
    "PREFECT__RUNTIME__TASK_RUN__TAGS": "t",
    "PREFECT__RUNTIME__DEPLOYMENT__ID": "did",
    "PREFECT__RUNTIME__DEPLOYMENT__VERSION": "v",
    "PREFECT__RUNTIME__DEPLOYMENT__PARAMETERS": "p",
    "PREFECT__RUNTIME__DEPLOYMENT__CUSTOM": "q",
}
URLS = "flow_run.api_url flow_run.ui_url flow_run.id task_run.api_url deployment.flow_run_id"
ZERO = "00000000-0000-0000-0000-000000000000"

# name -> (environment from (runs, api url), what to change in Prefect's rows: skiff's values)
SCENARIOS: dict[str, tuple[Callable[[dict[str, str], str], dict[str, str]], dict[str, str]]] = {
    "bare": (lambda r, api: {"PREFECT_API_URL": api}, {}),
    "no-api-url": (lambda r, api: {}, {}),
    "overrides": (lambda r, api: {"PREFECT_API_URL": api, **OVERRIDES}, {}),
    # Prefect 3.9.1 reads flow_version off the server's Flow, which has none (AttributeError);
    # skiff gives the run's flow_version, the value Prefect has inside the run.
    "mid-with-overrides": (
        lambda r, api: {"PREFECT_API_URL": api, "PREFECT__FLOW_RUN_ID": r["<mid>"], **OVERRIDES},
        {"outside/flow_run/flow_version": "str 'fv1'"},
    ),
    "deployment-run": (
        lambda r, api: {"PREFECT_API_URL": api, "PREFECT__FLOW_RUN_ID": r["<root>"]},
        {"outside/flow_run/flow_version": "NoneType None"},
    ),
    "grandchild-run": (
        lambda r, api: {"PREFECT_API_URL": api, "PREFECT__FLOW_RUN_ID": r["<leaf>"]},
        {"outside/flow_run/flow_version": "NoneType None"},
    ),
    "bad-int-override": (
        lambda r, api: {
            "PREFECT_API_URL": api,
            "PREFECT__FLOW_RUN_ID": r["<leaf>"],
            "PREFECT__RUNTIME__FLOW_RUN__RUN_COUNT": "3.5",
        },
        {"outside/flow_run/flow_version": "NoneType None"},
    ),
    "missing-run": (lambda r, api: {"PREFECT_API_URL": api, "PREFECT__FLOW_RUN_ID": ZERO}, {}),
    "url-trailing-slash": (lambda r, api: {"PREFECT_API_URL": api + "/", "PROBE_ATTRS": URLS}, {}),
    "url-cloud": (
        lambda r, api: {
            "PREFECT_API_URL": "https://api.prefect.cloud/api/accounts/a/workspaces/w",
            "PREFECT__FLOW_RUN_ID": "x",
            "PROBE_ATTRS": URLS,
        },
        {},
    ),
    "url-own-cloud": (
        lambda r, api: {
            "PREFECT_API_URL": "http://h/api/accounts/1",
            "PREFECT_CLOUD_API_URL": "http://h/api",
            "PREFECT_CLOUD_UI_URL": "http://cui",
            "PREFECT__FLOW_RUN_ID": "x",
            "PROBE_ATTRS": URLS,
        },
        {},
    ),
    "url-ui-set": (
        lambda r, api: {
            "PREFECT_API_URL": "http://h/api",
            "PREFECT_UI_URL": "http://ui/",
            "PREFECT__FLOW_RUN_ID": "x",
            "PROBE_ATTRS": URLS,
        },
        {},
    ),
    "url-ui-empty": (
        lambda r, api: {
            "PREFECT_API_URL": "garbage",
            "PREFECT_UI_URL": "",
            "PREFECT__FLOW_RUN_ID": "x",
            "PROBE_ATTRS": URLS,
        },
        {},
    ),
}


@pytest.mark.server
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_outside_a_run_same_as_prefect(
    scenario: str, runs: dict[str, str], prefect_api_url: str, tmp_path: Path
) -> None:
    make_env, deviations = SCENARIOS[scenario]
    env = clean_env(RT_ROLES=json.dumps(runs), **make_env(runs, prefect_api_url))
    prefect = run_probe(OUTSIDE, "prefect", env, tmp_path)
    skiff = run_probe(OUTSIDE, "skiff", env, tmp_path)
    for key, value in deviations.items():
        prefect = [[*row[:-1], value] if "/".join(row[:-1]) == key else row for row in prefect]
    assert_same(prefect, skiff)


@pytest.mark.server
def test_malformed_flow_run_id_is_named(
    runs: dict[str, str], prefect_api_url: str, tmp_path: Path
) -> None:
    """Prefect sends it and raises ObjectNotFound; skiff names the variable (a ValueError)."""
    env = clean_env(PREFECT_API_URL=prefect_api_url, PREFECT__FLOW_RUN_ID="garbage")
    prefect = rows_by_key(run_probe(OUTSIDE, "prefect", env, tmp_path))
    skiff = rows_by_key(run_probe(OUTSIDE, "skiff", env, tmp_path))
    changed = {k for k in prefect if prefect[k] != skiff[k]}
    assert changed and all(prefect[k] == "raises Exception" for k in changed)
    assert all(skiff[k] == "raises ValueError" for k in changed)
    assert skiff["outside/flow_run/id"] == "str 'garbage'"  # read without the API, as Prefect


# ------------------------------------------------------------------------ inside runs
@pytest.mark.server
@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {
            "PREFECT__RUNTIME__FLOW_RUN__NAME": "mocked",
            "PREFECT__RUNTIME__TASK_RUN__RUN_COUNT": "5",
        },
    ],
    ids=["plain", "overridden"],
)
def test_inside_flow_and_task_same_as_prefect(
    overrides: dict[str, str], prefect_api_url: str, tmp_path: Path
) -> None:
    env = clean_env(PREFECT_API_URL=prefect_api_url, **overrides)
    assert_same(
        run_probe(IN_RUN, "prefect", env, tmp_path), run_probe(IN_RUN, "skiff", env, tmp_path)
    )


@pytest.mark.server
def test_subflows_same_as_prefect(prefect_api_url: str, tmp_path: Path) -> None:
    env = clean_env(PREFECT_API_URL=prefect_api_url)
    assert_same(
        run_probe(SUBFLOWS, "prefect", env, tmp_path), run_probe(SUBFLOWS, "skiff", env, tmp_path)
    )


def deployment_run(api_url: str, folder: Path) -> tuple[str, dict[str, str]]:
    with Client(api_url) as client:
        flow = client.flows.create(name=FLOW_NAME)
        dep = client.deployments.create(
            flow_id=flow.id,
            name=f"rt-deployed-{uuid.uuid4().hex[:8]}",
            version="v3",
            parameters={"x": 5},
            entrypoint="prefect_probe.py:deployed",
            path=str(folder),
            job_variables={"image": "i"},
        )
        run = client.flow_runs.create(
            flow_id=flow.id,
            deployment_id=dep.id,
            name="rt-deployed-run",
            parameters={"x": 5},
            tags=["dt"],
            state=StateCreate(type="SCHEDULED"),
            job_variables={"image": "i"},
        )
    return str(run.id), {"<dep>": str(dep.id), "<dname>": dep.name, "<run>": str(run.id)}


def run_deployed(side: str, api_url: str, tmp_path: Path) -> Any:
    folder = tmp_path / side
    folder.mkdir()
    run_id, roles = deployment_run(api_url, folder)
    env = clean_env(
        PREFECT_API_URL=api_url,
        PREFECT__FLOW_RUN_ID=run_id,
        RT_ROLES=json.dumps(roles),
        RT_OUT=str(folder / "out.json"),
    )
    # Prefect runs it the way its workers do; skiff takes the run over in the program.
    args = ("-m", "prefect.engine") if side == "prefect" else ()
    return run_probe(DEPLOYED, side, env, folder, args)


def deployment_rows(rows: list[list[Any]]) -> list[list[Any]]:
    # What skiff's engine fills for a taken-over deployment run today.
    kept = ("deployment", "task_run")
    return [row for row in rows if row[0] == "flow" and row[1] in kept]


@pytest.mark.server
def test_deployment_run_same_as_prefect(prefect_api_url: str, tmp_path: Path) -> None:
    prefect = run_deployed("prefect", prefect_api_url, tmp_path)
    skiff = run_deployed("skiff", prefect_api_url, tmp_path)
    assert rows_by_key(deployment_rows(skiff))["flow/deployment/name"] == "str '<dname>'"
    assert_same(deployment_rows(prefect), deployment_rows(skiff))


@pytest.mark.server
def test_deployment_run_and_subflow_same_as_prefect(prefect_api_url: str, tmp_path: Path) -> None:
    prefect = run_deployed("prefect", prefect_api_url, tmp_path)
    skiff = run_deployed("skiff", prefect_api_url, tmp_path)
    assert_same(prefect, skiff)


@pytest.mark.server
@pytest.mark.parametrize("program", ["runtime_accessors", "run_name_callable"])
def test_compat_program_stdout(program: str, prefect_api_url: str, tmp_path: Path) -> None:
    run = harness.run_program(program, "skiff", sys.executable, prefect_api_url, tmp_path)
    recorded = json.loads((harness.RECORDED / f"{program}.json").read_text())
    assert run.returncode == recorded["exit_code"], run.stderr[-3000:]
    assert run.stdout.splitlines() == recorded["stdout"]


# ------------------------------------------------------------- skiff alone, in process
@pytest.fixture
def bare_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith(("PREFECT_", "SKIFF_")) and name != "SKIFF_TEST_API_URL":
            monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_unknown_attribute_raises_attribute_error(bare_env: pytest.MonkeyPatch) -> None:
    from skiff.runtime import deployment, flow_run, task_run

    for module in (flow_run, task_run, deployment):
        with pytest.raises(AttributeError, match=rf"^{module.__name__} has no attribute 'nope'$"):
            module.nope  # noqa: B018
        assert dir(module) == sorted(module.__all__)
    with pytest.raises(ImportError):
        from skiff.runtime.flow_run import nope  # noqa: F401
    from skiff.runtime.flow_run import run_count

    assert run_count == 0


def test_bad_overrides_name_the_variable(bare_env: pytest.MonkeyPatch) -> None:
    from skiff.runtime import flow_run

    bare_env.setenv("PREFECT__RUNTIME__FLOW_RUN__RUN_COUNT", "three")
    bare_env.setenv("PREFECT__RUNTIME__FLOW_RUN__TAGS", "a,b")
    bare_env.setenv("PREFECT__RUNTIME__FLOW_RUN__SCHEDULED_START_TIME", "yesterday")
    with pytest.raises(ConfigurationError, match="PREFECT__RUNTIME__FLOW_RUN__RUN_COUNT='three'"):
        flow_run.run_count  # noqa: B018
    with pytest.raises(ValueError, match=r"PREFECT__RUNTIME__FLOW_RUN__TAGS: .*monkeypatch"):
        flow_run.tags  # noqa: B018
    with pytest.raises(ConfigurationError, match="SCHEDULED_START_TIME='yesterday' is not an ISO"):
        flow_run.scheduled_start_time  # noqa: B018


def test_scheduled_start_time_override_is_utc(bare_env: pytest.MonkeyPatch) -> None:
    """Prefect on Python >= 3.13 parses it; on 3.11 its pendulum type makes it unmockable."""
    import datetime

    from skiff.runtime import flow_run

    utc = datetime.timezone.utc
    bare_env.setenv("PREFECT__RUNTIME__FLOW_RUN__SCHEDULED_START_TIME", "2024-01-31T12:00:00")
    assert flow_run.scheduled_start_time == datetime.datetime(2024, 1, 31, 12, tzinfo=utc)
    bare_env.setenv("PREFECT__RUNTIME__FLOW_RUN__SCHEDULED_START_TIME", "2024-01-31T14:00:00+02:00")
    assert flow_run.scheduled_start_time == datetime.datetime(2024, 1, 31, 12, tzinfo=utc)
    assert flow_run.scheduled_start_time.tzinfo == utc


@pytest.mark.server
def test_flow_run_id_errors_are_typed(bare_env: pytest.MonkeyPatch, prefect_api_url: str) -> None:
    from skiff.runtime import deployment, flow_run

    bare_env.setenv("PREFECT_API_URL", prefect_api_url)
    bare_env.setenv("PREFECT__FLOW_RUN_ID", "not-a-uuid")
    with pytest.raises(ConfigurationError, match=r"PREFECT__FLOW_RUN_ID='not-a-uuid'.*unset it"):
        flow_run.tags  # noqa: B018
    bare_env.setenv("PREFECT__FLOW_RUN_ID", ZERO)
    with pytest.raises(NotFoundError):
        deployment.id  # noqa: B018
    bare_env.delenv("PREFECT_API_URL")
    with pytest.raises(ConfigurationError, match="PREFECT_API_URL"):
        flow_run.name  # noqa: B018


@pytest.mark.server
def test_api_reads_follow_the_chain(
    bare_env: pytest.MonkeyPatch, runs: dict[str, str], prefect_api_url: str
) -> None:
    from skiff.runtime import deployment, flow_run

    bare_env.setenv("PREFECT_API_URL", prefect_api_url)
    bare_env.setenv("PREFECT__FLOW_RUN_ID", runs["<leaf>"])
    assert flow_run.parent_flow_run_id == runs["<mid>"]
    assert flow_run.root_flow_run_id == runs["<root>"]
    assert flow_run.parent_deployment_id is None
    bare_env.setenv("PREFECT__FLOW_RUN_ID", runs["<mid>"])
    assert flow_run.parent_deployment_id == runs["<dep>"]
    assert (flow_run.tags, flow_run.flow_name, flow_run.flow_version) == (
        ["m", "n"],
        FLOW_NAME,
        "fv1",
    )
    bare_env.setenv("PREFECT__FLOW_RUN_ID", runs["<root>"])
    assert (deployment.id, deployment.name, deployment.version) == (
        runs["<dep>"],
        runs["<dname>"],
        "v7",
    )
    assert deployment.parameters == {"x": 1}  # the run's, as Prefect


IMPORT_PROBE = r"""
import json, sys
before = set(sys.modules)
import skiff.runtime
from skiff.runtime import deployment, flow_run, task_run
values = {f"{m.__name__}.{n}": repr(getattr(m, n)) for m in (flow_run, task_run, deployment)
          for n in m.__all__ if n != "scheduled_start_time"}
loaded = sorted(set(sys.modules) - before)
print(json.dumps({"values": values, "loaded": loaded}))
"""


def test_import_and_reads_outside_a_run_stay_cheap(tmp_path: Path) -> None:
    """Neither the engine nor the client (nor httpx) loads until a value needs it."""
    env = clean_env(PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(done.stdout)
    heavy = [m for m in found["loaded"] if m.startswith(("skiff.client", "skiff._engine", "httpx"))]
    assert heavy == []
    assert set(found["values"].values()) <= {"None", "[]", "{}", "0"}
