"""Paths join to the folder as in Prefect's blocks; a path leaving the folder is refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from skiff.blocks import (
    AzureBlobStorageContainer,
    AzureBlobStorageCredentials,
    GcsBucket,
    LocalFileSystem,
    S3Bucket,
    StoragePathError,
)

# (folder, path) pairs that stay inside the folder.
INSIDE = [
    ("", "a.json"),
    ("", "a/b"),
    ("f", "a"),
    ("f/", "a"),
    ("f", "f/a"),  # already resolved, as Prefect's result store passes keys
    ("f/", "f/a"),
    ("f", "f"),
    ("f/g", "x/y"),
    ("f", "./a"),
    ("f", "a//b"),
    ("f", "fa"),
    ("f", ""),
]
# Prefect keeps these as keys outside the folder ("f/../a", "/etc/x"); skiff refuses them.
ESCAPING = [("f", "../a"), ("f", "/etc/x"), ("", "../a"), ("f", "f/../../a")]

# prefect-gcp 0.6.22's GcsBucket._resolve_path and prefect-azure 0.4.13's
# _get_path_relative_to_base_folder on INSIDE, measured (neither is in the server env).
GCS_PREFECT = ["a.json", "a/b", "f/a", "f/a", "f/a", "f/a", "f/f", "f/g/x/y", "f/a", "f/a/b"]
GCS_PREFECT += ["f/fa", "f"]
AZURE_PREFECT = ["a.json", "a/b", "f/a", "f/a", "f/f/a", "f/f/a", "f/f", "f/g/x/y", "f/a"]
AZURE_PREFECT += ["f/a/b", "f/fa", "f"]

PREFECT_S3 = """
import json
from prefect_aws.s3 import S3Bucket
print(json.dumps([S3Bucket(bucket_name="b", bucket_folder=f)._resolve_path(p) for f, p in {cases}]))
"""


def _azure(folder: str) -> AzureBlobStorageContainer:
    credentials = AzureBlobStorageCredentials(connection_string="UseDevelopmentStorage=true")
    return AzureBlobStorageContainer(
        container_name="c", base_folder=folder or None, credentials=credentials
    )


@pytest.mark.server
def test_s3_keys_equal_prefect_aws(run_prefect: Callable[[str], Any]) -> None:
    theirs = run_prefect(PREFECT_S3.format(cases=json.dumps(INSIDE)))
    ours = [S3Bucket(bucket_name="b", bucket_folder=f).resolve_path(p) for f, p in INSIDE]
    assert ours == theirs


def test_gcs_and_azure_names_equal_prefects() -> None:
    assert [GcsBucket(bucket="b", bucket_folder=f).resolve_path(p) for f, p in INSIDE] == (
        GCS_PREFECT
    )
    assert [_azure(f).resolve_path(p) for f, p in INSIDE] == AZURE_PREFECT


@pytest.mark.parametrize(("folder", "path"), ESCAPING)
@pytest.mark.parametrize("kind", ["s3", "gcs", "azure"])
def test_a_path_leaving_the_folder_is_refused(kind: str, folder: str, path: str) -> None:
    block: Any = {
        "s3": lambda: S3Bucket(bucket_name="b", bucket_folder=folder),
        "gcs": lambda: GcsBucket(bucket="b", bucket_folder=folder),
        "azure": lambda: _azure(folder),
    }[kind]()
    with pytest.raises(StoragePathError, match="pass a path relative to it") as caught:
        block.resolve_path(path)
    assert isinstance(caught.value, ValueError)  # what Prefect's LocalFileSystem raises
    with pytest.raises(StoragePathError):
        block.write_path(path, b"never sent")  # refused before any client is made


def test_gcs_refuses_the_bucket_root() -> None:
    with pytest.raises(StoragePathError, match="names the root of GCS bucket 'b'"):
        GcsBucket(bucket="b").resolve_path("")


PREFECT_LOCAL = """
import json
from prefect.filesystems import LocalFileSystem
out = []
for base, path in {cases}:
    try:
        out.append(str(LocalFileSystem(basepath=base)._resolve_path(path)))
    except ValueError as error:
        out.append("refused")
print(json.dumps(out))
"""


@pytest.mark.server
def test_local_paths_equal_prefects(tmp_path: Path, run_prefect: Callable[[str], Any]) -> None:
    base = tmp_path / "store"
    (tmp_path / "outside").mkdir()
    (base / "sub").mkdir(parents=True)
    (base / "link").symlink_to(tmp_path / "outside")  # a link out of basepath is outside too
    cases = [
        (str(base), "a"),
        (str(base), "sub/b.json"),
        (str(base), str(base / "sub" / "c")),
        (str(base), ""),
        (str(base), "sub/../d"),
        (str(base), "../escape"),
        (str(base), "/etc/passwd"),
        (str(base), "link/e"),
        (str(base), "~/x"),
    ]
    theirs = run_prefect(PREFECT_LOCAL.format(cases=json.dumps(cases)))

    def ours(basepath: str, path: str) -> str:
        try:
            return str(LocalFileSystem(basepath=basepath).resolve_path(path))
        except StoragePathError:
            return "refused"

    assert [ours(b, p) for b, p in cases] == theirs
    assert theirs[5:] == ["refused"] * 4


def test_local_basepath_defaults_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    storage = LocalFileSystem(basepath=None)
    assert storage.resolve_path("x") == tmp_path.resolve() / "x"
    assert LocalFileSystem(basepath=tmp_path).basepath == str(tmp_path)  # a Path is stringified
