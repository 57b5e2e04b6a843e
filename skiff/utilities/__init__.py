"""Prefect's ``prefect.utilities`` names that flows use: see :mod:`skiff.utilities.annotations`."""
