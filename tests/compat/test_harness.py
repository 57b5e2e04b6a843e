"""The compat harness's pure parts: the import rewrite and the normalization rules."""

from __future__ import annotations

from tests.compat import harness


def test_rewrite_changes_only_prefect_imports() -> None:
    source = (
        "import prefect\n"
        "import prefect.runtime as rt\n"
        "from prefect import flow, task\n"
        "from prefect.runtime import flow_run\n"
        "    from prefect.states import Failed\n"
        "import prefectish\n"
        "print('from prefect import x')\n"
    )
    assert harness.rewrite(source) == (
        "import skiff as prefect\n"
        "import skiff.runtime as rt\n"
        "from skiff import flow, task\n"
        "from skiff.runtime import flow_run\n"
        "    from skiff.states import Failed\n"
        "import prefectish\n"
        "print('from prefect import x')\n"
    )


def test_generated_names_and_ids_are_normalized_literal_names_kept() -> None:
    names = harness._Names('@flow(flow_run_name="root-run")', "abc123tag0")
    assert names.flow_run("big-auk") == "<generated>"
    assert names.flow_run("root-run") == "root-run"
    assert names.flow_run("sum-3") == "sum-3"
    assert names.task_run("double-4ee", "4ee8882d-dc17-436d-9dba-f8bfe0a3f7bf") == "double-<dk>"
    assert names.task_run("child-0", "0") == "child-0"
    text = names.text(
        "Beginning flow run 'big-auk' in /tmp/x/prog.py at 2026-12-01T23:48:07.262992Z "
        "id 1e21b27d-0915-46dc-b9b6-8d9a465178b0 limit compat-db-abc123tag0 "
        "scope 7f0e10a304a0",
        "/tmp/x/prog.py",
    )
    assert text == (
        "Beginning flow run '<generated>' in <program> at <time> id <uuid> limit compat-db-<tag> "
        "scope <addr>"
    )


def test_tracebacks_keep_only_the_programs_frames() -> None:
    text = (
        "Task run failed\nTraceback (most recent call last):\n"
        '  File "/site-packages/prefect/task_engine.py", line 1, in run\n'
        "    yield self\n"
        '  File "<program>", line 11, in flaky\n'
        '    raise ValueError("nope")\n'
        "    ^^^^^^^^^^^^^^^^^^^^^^^^\n"
        "ValueError: nope"
    )
    assert harness._traceback(text) == (
        "Task run failed\nTraceback (most recent call last):\n"
        '  File "<program>", line 11, in flaky\n'
        '    raise ValueError("nope")\n'
        "ValueError: nope"
    )


def test_failure_is_the_exception_line_without_paths_or_modules() -> None:
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc)
    stderr = (
        "Traceback (most recent call last):\n"
        "skiff._exceptions.ValidationError: @flow: unknown keyword argument 'x'\n"
        "skiff's reports to the Prefect API are failing (...)\n"
    )
    run = harness.Run("p", "skiff", 1, "", stderr, now, now, "/tmp/p.py", 0.1, "tag")
    assert harness.failure(run, 0) == "fails: ValidationError: @flow: unknown keyword argument 'x'"
    assert harness.failure(run, 1) is None
    run.stderr = "ImportError: cannot import name 'tags' from 'skiff' (/work/skiff/__init__.py)"
    assert harness.failure(run, 0) == "fails: ImportError: cannot import name 'tags' from 'skiff'"
