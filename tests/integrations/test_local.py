"""LocalFileSystem on a real folder, and side by side with prefect.filesystems.LocalFileSystem."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from skiff.blocks import LocalFileSystem, ObjectNotFoundError, StorageError, StoragePathError


def test_write_then_read(tmp_path: Path) -> None:
    storage = LocalFileSystem(basepath=str(tmp_path / "store"))
    written = storage.write_path("a/b/result.json", b'{"x": 1}')
    assert written == str((tmp_path / "store" / "a" / "b" / "result.json").resolve())
    assert Path(written).read_bytes() == b'{"x": 1}'
    assert storage.read_path("a/b/result.json") == b'{"x": 1}'
    assert storage.read_path(written) == b'{"x": 1}'  # an absolute path under basepath

    storage.write_path("a/b/result.json", b"replaced")
    assert asyncio.run(storage.aread_path("a/b/result.json")) == b"replaced"
    assert asyncio.run(storage.awrite_path("c", b"async")).endswith("/store/c")
    # Written aside and renamed into place: no scratch file is left behind.
    assert sorted(p.name for p in (tmp_path / "store" / "a" / "b").iterdir()) == ["result.json"]


def test_missing_files_directories_and_escapes(tmp_path: Path) -> None:
    storage = LocalFileSystem(basepath=str(tmp_path))
    with pytest.raises(ObjectNotFoundError, match="no file"):
        storage.read_path("absent")
    (tmp_path / "folder").mkdir()
    with pytest.raises(StorageError, match="is a directory"):
        storage.read_path("folder")
    with pytest.raises(StorageError, match="is a directory"):
        storage.write_path("folder", b"x")
    with pytest.raises(StoragePathError, match=r"outside basepath .* pass a path under basepath"):
        storage.write_path("../outside", b"x")
    assert not (tmp_path.parent / "outside").exists()


def test_an_unwritable_basepath_names_the_fix(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    storage = LocalFileSystem(basepath=str(tmp_path / "file"))
    with pytest.raises(StorageError, match="check basepath and its permissions"):
        storage.write_path("x", b"x")


PREFECT_SIDE = """
import json
from prefect.filesystems import LocalFileSystem
got = LocalFileSystem.load("{name}-skiff")
read = got.read_path("from-skiff").decode()
written = got.write_path("sub/from-prefect", b"prefect bytes")
LocalFileSystem(basepath="{other}").save("{name}-prefect")
print(json.dumps({{"basepath": got.basepath, "read": read, "written": written}}))
"""


@pytest.mark.server
def test_documents_and_files_cross_with_prefect(
    api_env: str, tmp_path: Path, name: str, run_prefect: Callable[[str], Any]
) -> None:
    ours = LocalFileSystem(basepath=str(tmp_path / "store"))
    ours.save(f"{name}-skiff")
    ours.write_path("from-skiff", b"skiff bytes")
    other = tmp_path / "other"

    seen = run_prefect(PREFECT_SIDE.format(name=name, other=other))
    assert seen == {
        "basepath": str(tmp_path / "store"),
        "read": "skiff bytes",
        "written": str((tmp_path / "store" / "sub" / "from-prefect").resolve()),
    }
    assert ours.read_path("sub/from-prefect") == b"prefect bytes"
    theirs = LocalFileSystem.load(f"{name}-prefect")
    assert theirs.basepath == str(other)
    assert theirs.write_path("y", b"1") == str((other / "y").resolve())
