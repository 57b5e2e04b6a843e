"""scripts/unasync.py: a dead substitution fails the run; the sync output passes ruff."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from scripts import unasync

ROOT = Path(__file__).resolve().parents[2]


def test_a_substitution_that_matches_nothing_fails_check(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = (r"\bNoSuchAsyncName\b", "NoSuchName")
    monkeypatch.setattr(unasync, "SUBS", [*unasync.SUBS, dead])
    monkeypatch.setattr(
        unasync, "_COMPILED", [*unasync._COMPILED, (unasync.re.compile(dead[0]), dead[1])]
    )
    assert unasync.main(["--check"]) == 1
    assert "NoSuchAsyncName" in capsys.readouterr().err


def test_the_sync_code_is_linted_and_formatted() -> None:
    excluded = next(
        line
        for line in (ROOT / "pyproject.toml").read_text().splitlines()
        if line.startswith("extend-exclude")
    )
    assert "skiff/client/_sync" not in excluded
    ruff = str(Path(sys.executable).parent / "ruff")
    for args in (["check", "skiff/client/_sync"], ["format", "--check", "skiff/client/_sync"]):
        result = subprocess.run([ruff, *args], cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_pure_helpers_live_once_in_base() -> None:
    # path_param, query_params, check_argument, check_body, decode_any: no copies in _sync.
    for name in ("_helpers.py", "_resource.py"):
        for side in ("_async", "_sync"):
            text = (ROOT / "skiff" / "client" / side / name).read_text()
            for helper in (
                "path_param",
                "query_params",
                "check_argument",
                "check_body",
                "decode_any",
            ):
                assert f"def {helper}(" not in text, (side, name, helper)
