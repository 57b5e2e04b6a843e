"""``quote``, ``allow_failure`` and ``unmapped``, as ``prefect.utilities.annotations`` has them."""

from __future__ import annotations

from skiff._engine._annotations import BaseAnnotation, allow_failure, quote, unmapped

__all__ = ["BaseAnnotation", "allow_failure", "quote", "unmapped"]
