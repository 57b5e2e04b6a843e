"""Kept for old imports: the error tree lives in :mod:`skiff._exceptions`."""

from __future__ import annotations

from skiff._exceptions import *  # noqa: F403
from skiff._exceptions import STATUS_ERRORS, __all__, error_class_for_status  # noqa: F401
