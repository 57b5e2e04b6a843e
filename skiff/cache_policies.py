"""Cache policies, as ``prefect.cache_policies``: what a task run's cache key depends on.

``@task(cache_policy=INPUTS + TASK_SOURCE)``; ``INPUTS - "client"`` leaves an input out;
``NO_CACHE`` turns caching off. Keys are the ones Prefect 3.9.1 computes for the same task
and inputs, so skiff and Prefect share cached results.
"""

from __future__ import annotations

from skiff._engine._hashing import CacheKeyError, HashError
from skiff._engine._policies import (
    DEFAULT,
    FLOW_PARAMETERS,
    INPUTS,
    NO_CACHE,
    NONE,
    RUN_ID,
    TASK_SOURCE,
    CacheKeyFnPolicy,
    CachePolicy,
    CachePolicyError,
    CompoundCachePolicy,
    FlowParameters,
    Inputs,
    RunId,
    TaskSource,
)

__all__ = [
    "DEFAULT",
    "FLOW_PARAMETERS",
    "INPUTS",
    "NONE",
    "NO_CACHE",
    "RUN_ID",
    "TASK_SOURCE",
    "CacheKeyError",
    "CacheKeyFnPolicy",
    "CachePolicy",
    "CachePolicyError",
    "CompoundCachePolicy",
    "FlowParameters",
    "HashError",
    "Inputs",
    "RunId",
    "TaskSource",
]
