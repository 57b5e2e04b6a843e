"""A missing optional dependency is an error naming the pip extra."""

from __future__ import annotations

import subprocess
import sys

import pytest

from skiff import MissingExtraError
from skiff.blocks import AwsCredentials, AzureBlobStorageCredentials, GcpCredentials, LocalKey


def test_blocks_without_pydantic() -> None:
    probe = (
        "import sys; sys.modules['pydantic'] = None\n"
        "try:\n    import skiff.blocks\n"
        "except ImportError as e:\n    print(type(e).__name__, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout
    assert out.startswith("MissingExtraError")
    assert "pip install 'skiff[blocks]'" in out


@pytest.mark.parametrize(
    ("module", "extra", "call"),
    [
        ("boto3", "aws", lambda: AwsCredentials().get_boto3_session()),
        ("google", "gcp", lambda: GcpCredentials().get_credentials()),
        (
            "azure.identity",
            "azure",
            lambda: AzureBlobStorageCredentials(account_url="https://a").get_credential(),
        ),
        ("cryptography.fernet", "crypto", lambda: LocalKey(LocalKey.generate())),
    ],
)
def test_cloud_sdks_are_lazy_extras(
    module: str, extra: str, call: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingExtraError, match=rf"pip install 'skiff\[{extra}\]'"):
        call()  # type: ignore[operator]
