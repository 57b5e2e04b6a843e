"""Programs whose skiff run differs from Prefect's today, each with the reason.

Each entry makes its test a strict xfail: when skiff changes so that a program becomes
identical, its test fails (XPASS) until the entry is removed here. A reason starting with
"fails:" is skiff's error (a missing module, name or keyword), and the test checks it: a
program that fails differently, or no longer fails, is a real failure until this list is
updated. The causes (after " -- ", or the whole reason) are ``harness.causes`` of the records
that differ; they depend a little on timing, so they are shown, not compared. Regenerate
with ``python scripts/compat.py --skiff`` (run the test to see each line of difference).

The causes shared by nearly every program, from skiff's current engine:
* flow history lacks Pending: skiff creates the run Running (Prefect: Pending, Running, final);
* task history only the final state: skiff sends what is current when it reports (Prefect:
  Pending, Running, final); retries show AwaitingRetry/Retrying instead of Running/Retrying;
* flow_version unset (Prefect: md5 of the flow's source file); subflow task_version unset;
* empirical_policy.retry_delay null (Prefect: 0 or the delay);
* no engine log lines ("Beginning flow run ...", "Finished in state ...", retry, hook and
  timeout notices, on the loggers prefect.flow_runs / prefect.task_runs);
* user log lines differ (logger name): skiff logs on skiff.flow_runs / skiff.task_runs.
"""

from __future__ import annotations

KNOWN: dict[str, str] = {
    "allow_failure_downstream": "fails: ImportError: cannot import name 'allow_failure' from 'skiff' -- no engine log lines",
    "artifacts_link_progress": "fails: ModuleNotFoundError: No module named 'skiff.artifacts' -- no engine log lines; artifacts differ",
    "artifacts_markdown_table": "fails: ModuleNotFoundError: No module named 'skiff.artifacts' -- no engine log lines; artifacts differ",
    "as_completed_futures": "fails: ModuleNotFoundError: No module named 'skiff.futures' -- no engine log lines",
    "async_flow": "flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; task history only the final state; no engine log lines",
    "async_retries_timeout": "flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; task history only the final state; retry history differs; no engine log lines",
    "async_subflow": "flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; subflow's parent task history differs; task history only the final state; subflow task_version unset; no engine log lines",
    "async_tasks_submit": "fails: RuntimeError: this future belongs to the running event loop: use `await future` -- flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; task history only the final state; final state differs; no engine log lines",
    "basic_flow": "flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; task history only the final state; no engine log lines",
    "cache_expiration_refresh": "fails: ModuleNotFoundError: No module named 'skiff.cache_policies' -- no engine log lines",
    "cache_key_fn": "flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; task history only the final state; cache_key recorded (Prefect: null); run_count differs; no engine log lines",
    "cache_policy_inputs": "fails: ModuleNotFoundError: No module named 'skiff.cache_policies' -- no engine log lines",
    "concurrency_limits": "fails: ModuleNotFoundError: No module named 'skiff.concurrency' -- no engine log lines; user log lines differ (logger name)",
    "docs_weather": "fails: ModuleNotFoundError: No module named 'skiff.artifacts' -- no engine log lines; user log lines differ (logger name); artifacts differ",
    "etl_retry_map_subflow": "flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; subflow's parent task history differs; task history only the final state; retry history differs; subflow task_version unset; no engine log lines; user log lines differ (logger name)",
    "failed_state_handling": "flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; task history only the final state; no engine log lines",
    "flow_retries": "flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; task history only the final state; no engine log lines; no result artifacts for failed states",
    "flow_returns_state": "flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; no engine log lines",
    "flow_timeout": "flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; no engine log lines",
    "flow_version_names": "fails: AttributeError: 'Flow' object has no attribute 'version' -- flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; task history only the final state; no engine log lines",
    "future_failure_propagates": "flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; task history only the final state; no engine log lines; no result artifacts for failed states",
    "hooks_crashed_cancellation": "fails: ValidationError: @flow: unknown keyword argument 'on_cancellation'; did you mean 'on_completion'? -- no engine log lines",
    "hooks_flow": "prints differently; flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; no engine log lines; no result artifacts for failed states",
    "hooks_task": "fails: ValidationError: @flow: unknown keyword argument 'on_running' -- no engine log lines",
    "log_prints": "prints differently; flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; task history only the final state; no engine log lines; user log lines differ (logger name)",
    "map_failures": "flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; task history only the final state; no engine log lines",
    "map_unmapped": "fails: ImportError: cannot import name 'unmapped' from 'skiff' -- no engine log lines",
    "params_coercion": "fails: TypeError: can't multiply sequence by non-int of type 'str' -- flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; final state differs; no engine log lines",
    "params_dataclass": "flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; no engine log lines",
    "params_pydantic": "fails: AttributeError: 'dict' object has no attribute 'quantity' -- flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; final state differs; parameters differ; no engine log lines",
    "persist_result": "fails: ValidationError: @task: unknown keyword argument 'result_serializer'; did you mean 'result_storage'? -- no engine log lines; no result artifacts for failed states",
    "quote_argument": "fails: ModuleNotFoundError: No module named 'skiff.utilities' -- no engine log lines",
    "raising_flow": "flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; no engine log lines; no result artifacts for failed states",
    "raising_task": "flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; task history only the final state; no engine log lines; no result artifacts for failed states",
    "retries_task": "flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; retry history differs; no engine log lines",
    "retry_condition": "fails: ValidationError: @task: unknown keyword argument 'retry_condition_fn' -- no engine log lines",
    "retry_delay_callable": "fails: ModuleNotFoundError: No module named 'skiff.tasks' -- no engine log lines",
    "retry_delay_list": "flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; retry history differs; no engine log lines",
    "return_values": "flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; task history only the final state; no engine log lines",
    "run_logger": "flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; task history only the final state; no engine log lines; user log lines differ (logger name)",
    "run_name_callable": "fails: ImportError: cannot import name 'flow_run' from 'skiff.runtime' -- no engine log lines",
    "run_name_templates": "flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; task history only the final state; no engine log lines",
    "runtime_accessors": "fails: ImportError: cannot import name 'deployment' from 'skiff.runtime' -- no engine log lines",
    "standalone_tasks": "task runs missing; no engine log lines",
    "state_hooks_names": "prints differently; flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; task history only the final state; no engine log lines",
    "subflows_nested": "flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; subflow's parent task history differs; subflow task_version unset; no engine log lines",
    "subflows_sync": "flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; subflow's parent task history differs; task history only the final state; subflow task_version unset; no engine log lines",
    "submit_futures": "fails: ModuleNotFoundError: No module named 'skiff.futures' -- no engine log lines",
    "tags_context": "fails: ImportError: cannot import name 'tags' from 'skiff' -- no engine log lines",
    "task_calls_task": "flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; task history only the final state; no __parents__ input for a nested task; no engine log lines",
    "task_returns_state": "prints differently; flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; task history only the final state; final state differs; no engine log lines",
    "task_timeout": "flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; task history only the final state; no engine log lines",
    "thread_pool_runner": "fails: ModuleNotFoundError: No module named 'skiff.task_runners' -- no engine log lines",
    "validate_parameters_off": "fails: ValidationError: @flow: unknown keyword argument 'validate_parameters' -- no engine log lines",
    "variables": "fails: ModuleNotFoundError: No module named 'skiff.variables' -- no engine log lines",
    "wait_for_ordering": "fails: TypeError: got an unexpected keyword argument 'wait_for' -- flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; task history only the final state; final state differs; no engine log lines",
    "with_options": "flow history lacks Pending; flow_version unset (Prefect: md5 of the flow's file); empirical_policy.retry_delay null; retry history differs; no engine log lines",
}
