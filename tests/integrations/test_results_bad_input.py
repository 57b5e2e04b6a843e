"""Bad result storage and bad records: each is a typed error, logged, and the flow still runs.

A missing bucket and wrong credentials (moto checking them) fail the lookup and the write;
a corrupt, expired, unknown-serializer or (without the setting) pickle record is a miss.
"""

from __future__ import annotations

import datetime
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest

from skiff import flow, task
from skiff._engine import _results
from tests.integrations._results_support import s3_block


def _key(ctx: Any, parameters: dict[str, Any]) -> str:
    return f"k-{parameters['x']}"


def _runner(storage: Any, **options: Any) -> tuple[Any, list[int]]:
    """A flow calling a persisting task once; returns (flow, the task's calls)."""
    calls: list[int] = []

    @task(cache_key_fn=_key, result_storage=storage, persist_result=True, **options)
    def double(x: int) -> Any:
        calls.append(x)
        return {"double": x * 2}

    @flow(name=f"bad-input-{uuid.uuid4().hex[:8]}")
    def run(x: int) -> tuple[str, Any]:
        state = double(x, return_state=True)
        return state.name, state.result()

    return run, calls


def _warnings(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)


@pytest.mark.parametrize("case", ["missing bucket", "wrong credentials"])
def test_a_storage_that_refuses_is_logged_and_the_flow_runs(
    case: str,
    api_env: str,
    aws_env: str,
    moto_checking: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    storage = (
        s3_block(aws_env, "skiff-no-such-bucket")
        if case == "missing bucket"
        else s3_block(moto_checking, "any-bucket")
    )
    error = "BucketNotFoundError" if case == "missing bucket" else "StorageAuthError"
    run, calls = _runner(storage)
    with caplog.at_level(logging.WARNING):
        assert run(1) == ("Completed", {"double": 2})
        assert run(1) == ("Completed", {"double": 2})  # nothing was stored: it runs again
    assert calls == [1, 1]
    logged = _warnings(caplog)
    assert f"skiff could not read the cached result ({error}:" in logged
    assert "Encountered an error while persisting result: could not write" in logged
    assert error in logged.split("persisting result:")[1]


def test_a_flow_whose_record_cannot_be_written_still_completes(
    api_env: str, aws_env: str, caplog: pytest.LogCaptureFixture
) -> None:
    @flow(persist_result=True, result_storage=s3_block(aws_env, "skiff-no-such-bucket"))
    def persisted() -> int:
        return 3

    with caplog.at_level(logging.WARNING):
        state = persisted(return_state=True)
    assert state.is_completed() and state.result() == 3
    assert "BucketNotFoundError: S3 bucket 'skiff-no-such-bucket' does not exist" in _warnings(
        caplog
    )


def _rewrite(path: Path, change: Any) -> None:
    record = json.loads(path.read_bytes())
    change(record)
    path.write_text(json.dumps(record))


def test_a_corrupt_record_is_a_logged_miss_then_replaced(
    api_env: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "k-1").write_bytes(b"\x00 not a record")
    run, calls = _runner(str(tmp_path))
    with caplog.at_level(logging.WARNING):
        assert run(1) == ("Completed", {"double": 2})
    assert "CorruptRecordError" in _warnings(caplog) and "is not a result record" in _warnings(
        caplog
    )
    assert run(1) == ("Cached", {"double": 2}) and calls == [1]


def test_an_expired_record_is_a_miss_and_is_replaced(api_env: str, tmp_path: Path) -> None:
    run, calls = _runner(str(tmp_path), cache_expiration=datetime.timedelta(hours=1))
    assert run(1) == ("Completed", {"double": 2})
    record = tmp_path / "k-1"
    expiration = json.loads(record.read_bytes())["metadata"]["expiration"]
    assert expiration.endswith("Z")

    def expire(data: dict[str, Any]) -> None:
        data["metadata"]["expiration"] = "2020-01-01T00:00:00Z"

    _rewrite(record, expire)
    assert run(1) == ("Completed", {"double": 2}) and calls == [1, 1]
    # The expired record was replaced (its write-once commit found it stale).
    assert json.loads(record.read_bytes())["metadata"]["expiration"] > "2026"
    assert run(1) == ("Cached", {"double": 2}) and calls == [1, 1]


def test_an_unknown_serializer_is_a_logged_miss(
    api_env: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run, calls = _runner(str(tmp_path))
    run(1)

    def compress(data: dict[str, Any]) -> None:
        data["metadata"]["serializer"] = {"type": "compressed/json", "compressionlib": "lzma"}

    _rewrite(tmp_path / "k-1", compress)
    with caplog.at_level(logging.WARNING):
        assert run(1) == ("Completed", {"double": 2})
    assert calls == [1, 1]
    assert "UnknownSerializerError" in _warnings(caplog)
    assert "'compressed/json'" in _warnings(caplog)


def test_a_pickle_record_needs_the_setting(
    api_env: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, calls = _runner(str(tmp_path), result_serializer="pickle")
    assert run(1) == ("Completed", {"double": 2})
    metadata = json.loads((tmp_path / "k-1").read_bytes())["metadata"]
    assert metadata["serializer"]["type"] == "pickle"
    with caplog.at_level(logging.WARNING):
        assert run(1) == ("Completed", {"double": 2})
    assert calls == [1, 1]
    logged = _warnings(caplog)
    assert "PickleNotAllowedError" in logged and "SKIFF_ALLOW_PICKLE_RESULTS=1" in logged
    monkeypatch.setenv("SKIFF_ALLOW_PICKLE_RESULTS", "1")
    assert run(1) == ("Cached", {"double": 2}) and calls == [1, 1]


def test_reading_a_record_raises_the_typed_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SKIFF_ALLOW_PICKLE_RESULTS", raising=False)
    pickled = {"serializer": {"type": "pickle", "picklelib": "cloudpickle"}}
    with pytest.raises(_results.PickleNotAllowedError, match="SKIFF_ALLOW_PICKLE_RESULTS=1"):
        _results.load_value(pickled, "gARLAS4=\n", "the record")
    with pytest.raises(_results.UnknownSerializerError, match="'custom'"):
        _results.load_value({"serializer": {"type": "custom"}}, "", "the record")
    with pytest.raises(_results.CorruptRecordError, match="not a result record"):
        _results.parse_record(b'{"metadata": {}}', "the record")
    with pytest.raises(_results.CorruptRecordError, match="does not decode"):
        _results.load_value({"serializer": {"type": "json"}}, "{", "the record")
    monkeypatch.setenv("SKIFF_ALLOW_PICKLE_RESULTS", "1")
    assert _results.load_value(pickled, "gARLAS4=\n", "the record") == 1


def test_a_value_json_cannot_encode_is_not_persisted(
    api_env: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    marker = object()

    @task(cache_key_fn=_key, result_storage=str(tmp_path))
    def opaque(x: int) -> object:
        return marker

    @flow
    def run() -> object:
        return opaque(1)

    with caplog.at_level(logging.WARNING):
        assert run() is marker
    assert "Failed to serialize object of type 'object' with serializer 'json'" in _warnings(caplog)
    assert not (tmp_path / "k-1").exists()
