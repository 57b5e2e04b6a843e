"""``@flow`` and :class:`Flow`, as ``prefect.flows`` has them."""

from __future__ import annotations

from skiff._engine._flows import Flow, flow

__all__ = ["Flow", "flow"]
