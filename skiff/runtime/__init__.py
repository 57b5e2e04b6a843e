"""What the current run is, as module attributes: Prefect's ``prefect.runtime``.

Example::

    from skiff.runtime import deployment, flow_run, task_run

    print(f"run {flow_run.name} of {flow_run.flow_name}, deployment {deployment.id}")

Each module reads the run in progress, else the run ``PREFECT__FLOW_RUN_ID`` names (from
the API), else gives empty values; ``PREFECT__RUNTIME__<MODULE>__<NAME>`` overrides a value.
Importing it is cheap: the engine and the client load only when a value needs them.
"""

from __future__ import annotations

from skiff.runtime import deployment, flow_run, task_run

__all__ = ["deployment", "flow_run", "task_run"]
