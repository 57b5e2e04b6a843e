"""Re-encrypt saved block documents under a new key.

    python -m skiff.blocks.rotate --old-key OLD --new-key NEW [--block-type SLUG] [--dry-run]

Keys are specs as for ``SKIFF_BLOCK_KEY`` (a Fernet key, ``aws-kms:<key>``, ``gcp-kms:<name>``,
``azure-keyvault:<url>``). To keep keys out of the process list, leave the options out and set
``SKIFF_BLOCK_OLD_KEY`` and ``SKIFF_BLOCK_KEY`` instead. The API URL comes from
``PREFECT_API_URL`` or ``--api-url``. Progress goes to stderr, the summary to stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from skiff._exceptions import SkiffError
from skiff.blocks._core import Requester, _connect
from skiff.blocks._crypto import PREFIX, Envelope, KeyProvider, key_provider_from_spec
from skiff.client._constants import ENV_BLOCK_KEY

__all__ = ["ENV_OLD_KEY", "RotationReport", "main", "rotate"]

ENV_OLD_KEY = "SKIFF_BLOCK_OLD_KEY"
_PAGE = 200


@dataclass
class RotationReport:
    """What :func:`rotate` did: documents seen, documents and values re-encrypted."""

    seen: int = 0
    rotated: int = 0
    values: int = 0


def _reencrypt(value: Any, old_id: str, envelope: Envelope, path: str, count: list[int]) -> Any:
    if isinstance(value, str) and value.startswith(f"{PREFIX}{old_id}:"):
        count[0] += 1
        return envelope.encrypt(envelope.decrypt(value, path))
    if isinstance(value, dict):
        return {k: _reencrypt(v, old_id, envelope, f"{path}.{k}", count) for k, v in value.items()}
    if isinstance(value, list):
        return [_reencrypt(v, old_id, envelope, path, count) for v in value]
    return value


def _documents(api: Requester, block_type: str | None) -> list[dict[str, Any]]:
    body: dict[str, Any] = {"include_secrets": True, "limit": _PAGE, "offset": 0}
    if block_type:
        body["block_types"] = {"slug": {"any_": [block_type]}}
    found: list[dict[str, Any]] = []
    while True:
        page = api.request("POST", "/block_documents/filter", json=body).json()
        found.extend(page)
        if len(page) < _PAGE:
            return found
        body["offset"] += _PAGE


def rotate(
    old: KeyProvider,
    new: KeyProvider,
    *,
    client: Requester | None = None,
    block_type: str | None = None,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
) -> RotationReport:
    """Re-encrypt every secret that ``old`` encrypted, in every document (or one block type).

    Values under other keys and plaintext documents are left alone. Each document gets one
    fresh data key wrapped by ``new``; it is written back whole (no merge).
    """
    report = RotationReport()
    say = progress or (lambda _message: None)
    with _connect(client) as api:
        documents = _documents(api, block_type)
        for index, document in enumerate(documents, 1):
            report.seen += 1
            label = f"{(document.get('block_type') or {}).get('slug', '?')}/{document.get('name')}"
            count = [0]
            envelope = Envelope(new, [old])
            data = _reencrypt(document.get("data") or {}, old.key_id, envelope, label, count)
            if not count[0]:
                say(f"[{index}/{len(documents)}] {label}: nothing under {old.key_id}")
                continue
            if not dry_run:
                update = {"data": data, "merge_existing_data": False}
                api.request("PATCH", f"/block_documents/{document['id']}", json=update)
            report.rotated += 1
            report.values += count[0]
            verb = "would re-encrypt" if dry_run else "re-encrypted"
            say(f"[{index}/{len(documents)}] {label}: {verb} {count[0]} value(s)")
    return report


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m skiff.blocks.rotate",
        description="Re-encrypt skiff-encrypted block secrets under a new key.",
    )
    parser.add_argument("--old-key", help=f"key spec to decrypt with (default ${ENV_OLD_KEY})")
    parser.add_argument("--new-key", help=f"key spec to encrypt with (default ${ENV_BLOCK_KEY})")
    parser.add_argument("--api-url", help="Prefect API URL (default $PREFECT_API_URL)")
    parser.add_argument("--block-type", help="only documents of this block type slug")
    parser.add_argument("--dry-run", action="store_true", help="report, change nothing")
    args = parser.parse_args(argv)
    old_spec = args.old_key or os.environ.get(ENV_OLD_KEY)
    new_spec = args.new_key or os.environ.get(ENV_BLOCK_KEY)
    if not old_spec or not new_spec:
        parser.error(f"need --old-key/${ENV_OLD_KEY} and --new-key/${ENV_BLOCK_KEY}")
    transport = None
    try:
        old, new = key_provider_from_spec(old_spec), key_provider_from_spec(new_spec)
        if args.api_url:
            from skiff.client._settings import Settings
            from skiff.client._sync._transport import Transport

            transport = Transport(Settings.load(api_url=args.api_url))
        report = rotate(
            old,
            new,
            client=transport,
            block_type=args.block_type,
            dry_run=args.dry_run,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )
    except SkiffError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        if transport is not None:
            transport.close()
    print(
        f"{'would rotate' if args.dry_run else 'rotated'} {report.rotated} of {report.seen} "
        f"documents ({report.values} values) from {old.key_id} to {new.key_id}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
