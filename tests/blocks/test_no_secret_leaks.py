"""Secrets never reach logs, printed output, or exception text."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from skiff.blocks import (
    AwsCredentials,
    Block,
    BlockValidationError,
    DecryptionError,
    LocalKey,
    ObfuscatedSecretError,
    Secret,
    SecretDict,
)

SECRETS = ["s3cr3t-access-key", "s3cr3t-session-token", "s3cr3t-password", "s3cr3t-dict-value"]


class Vault(Block):
    password: SecretStr
    extra: SecretDict | None = None
    retries: int = 3


@pytest.mark.server
def test_no_secret_in_logs_output_or_errors(
    api_env: str,
    name: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []

    def expect(error_type: type[Exception], call: object) -> None:
        with pytest.raises(error_type) as caught:
            call()  # type: ignore[operator]
        texts.extend([str(caught.value), repr(caught.value)])

    monkeypatch.setenv("SKIFF_BLOCK_KEY", LocalKey.generate())
    aws = AwsCredentials(
        aws_access_key_id="AK",
        aws_secret_access_key=SECRETS[0],
        aws_session_token=SECRETS[1],
    )
    vault = Vault(password=SECRETS[2], extra={"k": SECRETS[3]})
    for block in (aws, vault):
        print(block, repr(block), block.model_dump_json())
        texts.extend([str(block), repr(block)])
    aws.save(name)
    vault.save(name)
    print(AwsCredentials.load(name), Vault.load(name))

    # Wrong types on secret and plain fields: the messages name fields, never inputs.
    expect(BlockValidationError, lambda: Vault(password=SECRETS[2], retries=SECRETS[2]))
    expect(BlockValidationError, lambda: Vault(password=SECRETS[2], extra=SECRETS[3]))
    expect(BlockValidationError, lambda: AwsCredentials(aws_secret_access_key=[SECRETS[0]]))
    expect(BlockValidationError, lambda: Secret(value=object()))

    monkeypatch.setenv("SKIFF_BLOCK_KEY", LocalKey.generate())
    expect(DecryptionError, lambda: Vault.load(name))
    monkeypatch.delenv("SKIFF_BLOCK_KEY")
    Vault(password="********").save(f"{name}-o")
    expect(ObfuscatedSecretError, lambda: Vault.load(f"{name}-o"))

    captured = capsys.readouterr()
    everything = "\n".join([*texts, captured.out, captured.err, caplog.text])
    assert caplog.records, "expected the block code to log at DEBUG"
    for secret in SECRETS:
        assert secret not in everything
    assert any("retries" in t for t in texts)
