"""Result records shared with real Prefect 3.9.1 (and prefect-aws) on moto S3 and a local folder.

Each way: one SDK's task persists, the other's task with the same key (an INPUTS-only
policy, or the same ``cache_key_fn``) is Cached and returns the stored value. Prefect's
client also reads a skiff flow's result from the metadata its state carries.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from skiff import flow, task
from skiff.cache_policies import INPUTS
from tests.integrations._results_support import s3_block

# Reads skiff's INPUTS-keyed record, writes two keyed by cache_key_fn (json, then pickle),
# and reads a skiff flow run's result through the server, as Prefect's client does.
PREFECT_SIDE = """
from prefect import flow, task
from prefect.cache_policies import INPUTS
from prefect.client.orchestration import get_client

called = []

@task(cache_policy=INPUTS, result_storage=storage, persist_result=True)
def square(x: int) -> dict:
    called.append(x)
    return {{"x": x, "square": "prefect ran it"}}

def key(ctx, parameters):
    return "from-prefect-" + parameters["serializer"]

@task(cache_key_fn=key, result_storage=storage, persist_result=True)
def shout(word: str, serializer: str) -> str:
    return word.upper() + "!"

@flow
def prefect_side():
    hit = square(7, return_state=True)
    shout.with_options(result_serializer="json")("hello", "json")
    shout.with_options(result_serializer="pickle")("pickled", "pickle")
    return hit.name, hit.result()

name, value = prefect_side()
flow_result = None
if {flow_run_id!r}:
    with get_client(sync_client=True) as client:
        flow_result = client.read_flow_run({flow_run_id!r}).state.result()
print(json.dumps({{"name": name, "value": value, "called": called, "flow": flow_result}}))
"""


def _skiff_side(storage: Any, persist_flow: bool) -> tuple[dict[str, Any], str]:
    from skiff import flush
    from skiff.runtime import flow_run

    @task(cache_policy=INPUTS, result_storage=storage, persist_result=True)
    def square(x: int) -> dict[str, Any]:
        return {"x": x, "square": x * x}

    @flow(persist_result=persist_flow, result_storage=storage)
    def skiff_side() -> tuple[dict[str, Any], str]:
        return square(7), str(flow_run.id)

    value, run_id = skiff_side()
    assert flush(10)
    return value, run_id


def _read_back(storage: Any, monkeypatch: Any, write_once: bool = True) -> None:
    def key(ctx: Any, parameters: dict[str, Any]) -> str:
        return "from-prefect-" + parameters["serializer"]

    @task(cache_key_fn=key, result_storage=storage, persist_result=True)
    def shout(word: str, serializer: str) -> str:
        return "skiff ran it"

    @flow
    def reader(serializer: str) -> tuple[str, Any]:
        state = shout("hello", serializer, return_state=True)
        return state.name, state.result()

    assert reader("json") == ("Cached", "HELLO!")
    if write_once:
        # Prefect's default serializer is pickle: read only with the setting. (A store that
        # replaces records would then hold skiff's run's, as Prefect's run would leave it.)
        assert reader("pickle") == ("Completed", "skiff ran it")
    monkeypatch.setenv("SKIFF_ALLOW_PICKLE_RESULTS", "1")
    assert reader("pickle") == ("Cached", "PICKLED!")


def test_s3_records_cross_both_ways(
    api_env: str, aws_env: str, s3_bucket: str, run_prefect: Any, monkeypatch: Any
) -> None:
    storage = s3_block(aws_env, s3_bucket, "interop")
    name = f"interop-{uuid.uuid4().hex[:10]}"
    storage.save(name)
    try:
        slug = f"s3-bucket/{name}"
        value, run_id = _skiff_side(slug, persist_flow=True)
        assert value == {"x": 7, "square": 49}
        # Prefect takes only a saved block (or a slug, or a Path) as result_storage.
        script = f"import json\nstorage = {slug!r}\n"
        out: Any = run_prefect(script + PREFECT_SIDE.format(flow_run_id=run_id))
        assert (out["name"], out["value"], out["called"]) == ("Cached", value, [])
        assert out["flow"] == [value, run_id]  # the flow's JSON result, via storage_block_id
        _read_back(slug, monkeypatch)
    finally:
        storage._delete_saved()


def test_local_records_cross_both_ways(
    api_env: str, tmp_path: Path, run_prefect: Any, monkeypatch: Any
) -> None:
    folder = tmp_path / "results"
    value, _ = _skiff_side(str(folder), persist_flow=False)
    script = f"import json\nfrom pathlib import Path\nstorage = Path({str(folder)!r})\n"
    out: Any = run_prefect(script + PREFECT_SIDE.format(flow_run_id=""))
    assert (out["name"], out["value"], out["called"]) == ("Cached", value, [])
    records = {p.name: json.loads(p.read_bytes()) for p in folder.iterdir()}
    assert records["from-prefect-json"]["metadata"]["storage_key"] == str(
        folder / "from-prefect-json"
    )
    _read_back(str(folder), monkeypatch)
