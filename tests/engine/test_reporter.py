"""The reporting buffer on its own: bound, drop order, counting, flush and strict mode."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from skiff import ReportingError
from skiff._engine import _reporter
from skiff._engine._items import (
    DEBUG_LOG,
    FINAL_TASK_EVENT,
    INFO_LOG,
    KEEP,
    TASK_EVENT,
    WARNING_LOG,
    Item,
)
from skiff._engine._reporter import Reporter
from skiff.client._settings import Settings


class RecordingTransport:
    """Stands in for the transport: records what would be sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        self.sent.append((method, path, kwargs.get("json")))
        return None


def _reporter_with(**overrides: Any) -> tuple[Reporter, RecordingTransport]:
    overrides.setdefault("flush_interval", 3600)
    settings = Settings.load({}, api_url="http://127.0.0.1:9/api", **overrides)
    transport = RecordingTransport()
    return Reporter(settings, transport), transport  # type: ignore[arg-type]


def _item(cls: int, tag: str) -> Item:
    kind = {KEEP: "request"}.get(cls, "log" if cls <= WARNING_LOG else "event")
    build = (lambda: ("POST", "/x", tag)) if kind == "request" else (lambda: tag)
    return Item(kind, cls, build, 10)


def test_full_buffer_drops_lowest_class_oldest_first_and_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reporter, transport = _reporter_with(buffer_max_items=4)
    caplog.set_level(logging.WARNING, logger="skiff")
    for cls, tag in [
        (KEEP, "state"),
        (FINAL_TASK_EVENT, "final"),
        (TASK_EVENT, "running"),
        (WARNING_LOG, "warn"),
        (INFO_LOG, "info1"),
        (DEBUG_LOG, "debug"),
        (INFO_LOG, "info2"),
        (KEEP, "state2"),
        (KEEP, "state3"),
    ]:
        reporter.put(_item(cls, tag))
    # 9 in, bound 4: debug, info1, info2, warn, running go, in that order; states stay.
    assert reporter.dropped == 5
    assert reporter.flush(5)
    sent = [body for _, _, body in transport.sent]
    assert sent == [["final"], "state", "state2", "state3"] or sent == [
        "state",
        ["final"],
        "state2",
        "state3",
    ]
    drops = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(drops) == 1  # logged once, then only counted


def test_byte_bound_applies_too() -> None:
    reporter, _ = _reporter_with(buffer_max_bytes=1024)
    for _ in range(200):
        reporter.put(Item("log", INFO_LOG, lambda: "x", 100))
    assert reporter.pending() <= 10 and reporter.dropped >= 190


def test_flush_true_when_sent_and_batches_in_order() -> None:
    reporter, transport = _reporter_with()
    for i in range(3):
        reporter.put(Item("event", TASK_EVENT, lambda i=i: {"n": i}, 10))
    reporter.put(Item("log", INFO_LOG, lambda: {"m": 1}, 10))
    reporter.put(_item(KEEP, "final"))
    assert reporter.flush(5) is True
    assert [p for _, p, _ in transport.sent] == ["/events", "/logs/", "/x"]
    assert transport.sent[0][2] == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_flush_false_and_strict_mode_when_unreachable(closed_port_url: str) -> None:
    settings = Settings.load({}, api_url=closed_port_url, flush_interval=3600)
    reporter = _reporter.get(settings)
    reporter.put(_item(KEEP, "state"))
    assert reporter.flush(0.3) is False
    assert reporter.pending() == 1

    strict = _reporter.get(
        Settings.load({}, api_url=closed_port_url, strict=True, flush_interval=3600)
    )
    strict.put(_item(KEEP, "state"))
    with pytest.raises(ReportingError, match="unsent"):
        strict.flush(0.3)


def test_spool_writes_unsent_reports_and_the_next_reporter_replays_them(
    tmp_path: Any, closed_port_url: str
) -> None:
    spool = tmp_path / "spool"
    settings = Settings.load({}, api_url=closed_port_url, spool_dir=str(spool), flush_interval=3600)
    down = Reporter(settings, _reporter._build_transport(settings))
    down.put(_item(KEEP, "state"))
    down.put(Item("log", INFO_LOG, lambda: {"m": 1}, 10))
    down.close(0.3)
    assert len(list(spool.iterdir())) == 1 and down.dropped == 0

    up, transport = _reporter_with(spool_dir=str(spool))
    assert up.flush(5)
    assert sorted(p for _, p, _ in transport.sent) == ["/logs/", "/x"]
    assert list(spool.iterdir()) == []


def test_a_report_after_an_idle_spell_is_sent_within_the_interval() -> None:
    # The sender used to sleep without a timeout once the buffer was empty, so a report
    # made after that waited for the next flush (a long flow's later task runs stayed
    # invisible until the flow ended).
    reporter, transport = _reporter_with(flush_interval=0.2)
    for n in range(2):
        reporter.put(Item("event", TASK_EVENT, lambda n=n: {"n": n}, 10))
        deadline = time.monotonic() + 3
        while len(transport.sent) <= n and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(transport.sent) == n + 1, f"report {n} was not sent without a flush"
    assert transport.sent[1][2] == [{"n": 1}]
