"""The Lambda dispatcher: a flow run handed to a Lambda function through boto3 ``invoke``.

The function receives ``{"flow_run_id": ..., **payload}`` as its event (what skiff's
Lambda adapter reads to take the run over), with ``"env"`` when the ``env`` job variable
is set: Lambda has no per-invocation environment, so ``lambda_flow`` sets those variables
for the run and restores them after it. ``Event`` invocations (the default) return
at once with the request id: the infrastructure pid is ``"<function>::<request id>"``.
``RequestResponse`` invocations run in a thread, the pid ``"<function>::<flow run id>"``
is returned first, and a function error in the response makes :meth:`observe` report the
invocation gone, so the worker crashes a run the function left unfinished.

boto3 honours ``AWS_ENDPOINT_URL_LAMBDA`` (the emulator's Invoke API, for instance); an
``aws_credentials`` block's ``aws_client_parameters.endpoint_url`` wins over it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any, ClassVar

from skiff._exceptions import MissingExtraError
from skiff.integrations.aws import AwsCredentials
from skiff.integrations.worker._dispatch import (
    COMMON_VARIABLES,
    DispatchAuthError,
    Dispatcher,
    DispatchError,
    DispatchRequest,
    FunctionNotFoundError,
    InvocationError,
    Liveness,
    PayloadTooLargeError,
    block_definitions,
)

__all__ = ["LambdaDispatcher", "PAYLOAD_LIMITS"]

PAYLOAD_LIMITS: Mapping[str, int] = {"Event": 256 * 1024, "RequestResponse": 6 * 1024 * 1024}
"""Lambda's invoke payload limits in bytes, by invocation type."""

_AUTH_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "AccessDeniedException",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
    }
)


def _variables() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "function_name": {
                "title": "Function Name",
                "description": "The Lambda function's name or ARN (name:alias works too).",
                "type": "string",
            },
            "qualifier": {
                "title": "Qualifier",
                "description": "A version or alias to invoke; empty for $LATEST.",
                "type": "string",
            },
            "region_name": {
                "title": "Region",
                "description": "The function's AWS region; empty for the credentials' default.",
                "type": "string",
            },
            "aws_credentials": {
                "title": "AWS Credentials",
                "description": "The credentials to invoke with; empty for boto3's default chain.",
                "allOf": [{"$ref": "#/definitions/AwsCredentials"}],
            },
            "invocation_type": {
                "title": "Invocation Type",
                "description": (
                    "Event returns once Lambda queued the run (payload up to 256 KB); "
                    "RequestResponse waits for the function in the background (6 MB) and "
                    "sees it die."
                ),
                "type": "string",
                "enum": ["Event", "RequestResponse"],
                "default": "Event",
            },
            "timeout": {
                "title": "Invoke Timeout",
                "description": (
                    "Seconds the invoke call may take; for RequestResponse at least the "
                    "function's own timeout."
                ),
                "type": "number",
                "default": 60,
            },
            "payload": {
                "title": "Extra Payload",
                "description": "Fields added to the event beside flow_run_id.",
                "type": "object",
            },
            "env": {
                **COMMON_VARIABLES["env"],
                "description": (
                    "Environment variables for the flow run: sent in the event, set by "
                    "lambda_flow for the run and restored after it."
                ),
            },
            "start_timeout": dict(COMMON_VARIABLES["start_timeout"]),
            "heartbeat_timeout": dict(COMMON_VARIABLES["heartbeat_timeout"]),
        },
        "required": ["function_name"],
        "definitions": block_definitions(AwsCredentials),
    }


def _botocore_errors() -> Any:
    try:
        import botocore.exceptions
    except ImportError:
        raise MissingExtraError("aws", "boto3") from None
    return botocore.exceptions


class LambdaDispatcher(Dispatcher):
    """Starts flow runs in AWS Lambda functions (pool type ``lambda``)."""

    type: ClassVar[str] = "lambda"
    extra: ClassVar[str] = "aws"
    variables: ClassVar[Mapping[str, Any]] = _variables()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._sync_errors: dict[str, str | None] = {}  # pid -> error text; None: no error

    # ------------------------------------------------------------------ clients
    def _client(self, config: Mapping[str, Any]) -> Any:
        credentials = config.get("aws_credentials") or {}
        key = json.dumps(
            [credentials, config.get("region_name"), config.get("timeout")], sort_keys=True
        )
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._new_client(credentials, config)
                self._clients[key] = client
        return client

    def _checked_client(self, config: Mapping[str, Any], where: str) -> Any:
        import pydantic

        errors = _botocore_errors()
        try:
            return self._client(config)
        except pydantic.ValidationError as exc:
            fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
            raise DispatchAuthError(
                f"the 'aws_credentials' block for Lambda function {where!r} is not valid "
                f"AwsCredentials data (fields: {fields}); pick an AwsCredentials block"
            ) from None
        except errors.BotoCoreError as exc:  # ProfileNotFound, a failed assume_role...
            raise DispatchAuthError(
                f"no usable AWS credentials for Lambda function {where!r}: {exc}; fix the "
                "'aws_credentials' block or the worker's AWS settings"
            ) from None
        except errors.ClientError as exc:  # assume_role refused
            raise _client_error(exc, where, str(config.get("region_name") or "")) from None

    @staticmethod
    def _new_client(credentials: Mapping[str, Any], config: Mapping[str, Any]) -> Any:
        try:
            from botocore.config import Config
        except ImportError:
            raise MissingExtraError("aws", "boto3") from None
        block = AwsCredentials.model_validate(dict(credentials))
        kwargs = block.aws_client_parameters.client_kwargs()
        region = config.get("region_name") or block.region_name
        if region:
            kwargs["region_name"] = region
        timeout = float(config.get("timeout") or 60)
        # One attempt: a retried Event invocation would start the run twice.
        retries = Config(read_timeout=timeout, connect_timeout=10, retries={"max_attempts": 1})
        kwargs["config"] = kwargs["config"].merge(retries) if "config" in kwargs else retries
        return block.get_boto3_session().client("lambda", **kwargs)

    # ------------------------------------------------------------------ submit
    def submit(self, request: DispatchRequest, config: Mapping[str, Any]) -> str:
        """Invoke the function with the run's id; the pid once Lambda accepted the call."""
        function = config.get("function_name")
        kind = config.get("invocation_type") or "Event"
        event = {**(config.get("payload") or {}), **request.payload}
        if config.get("env"):
            event["env"] = dict(
                config["env"]
            )  # (no per-invocation environment: lambda_flow sets it)
        body = json.dumps(event).encode()
        limit = PAYLOAD_LIMITS[kind]
        if len(body) > limit:
            raise PayloadTooLargeError(
                f"the {kind} payload for Lambda function {function!r} is {len(body)} bytes, "
                f"over Lambda's {limit}-byte limit; shrink the 'payload' job variable"
                + (" or use invocation_type RequestResponse (6 MB)" if kind == "Event" else "")
            )
        params: dict[str, Any] = {"FunctionName": function, "InvocationType": kind, "Payload": body}
        if config.get("qualifier"):
            params["Qualifier"] = config["qualifier"]
        where = f"{function}:{config['qualifier']}" if config.get("qualifier") else str(function)
        client = self._checked_client(config, where)
        if kind == "RequestResponse":
            pid = f"{where}::{request.flow_run_id}"
            with self._lock:
                self._sync_errors.pop(pid, None)
            threading.Thread(
                target=self._wait_response, args=(client, params, pid), daemon=True
            ).start()
            return pid
        response = self._invoke(client, params, where, config)
        return f"{where}::{response['ResponseMetadata']['RequestId']}"

    def _invoke(
        self, client: Any, params: Mapping[str, Any], where: str, config: Mapping[str, Any]
    ) -> Any:
        errors = _botocore_errors()
        region = client.meta.region_name
        try:
            return client.invoke(**params)
        except errors.NoCredentialsError:
            raise DispatchAuthError(
                f"no AWS credentials to invoke Lambda function {where!r}: set the "
                "'aws_credentials' job variable to an AwsCredentials block, or give the "
                "worker AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or a profile)"
            ) from None
        except errors.ClientError as exc:
            raise _client_error(exc, where, region) from None
        except errors.ParamValidationError as exc:
            raise FunctionNotFoundError(
                f"Lambda refused function {where!r}: {exc}; fix 'function_name'/'qualifier'"
            ) from None
        except errors.BotoCoreError as exc:
            raise InvocationError(
                f"invoking Lambda function {where!r} in {region} failed: {exc}; check the "
                "endpoint (AWS_ENDPOINT_URL_LAMBDA) and the network"
            ) from None

    def _wait_response(self, client: Any, params: Mapping[str, Any], pid: str) -> None:
        where = pid.rsplit("::", 1)[0]
        error: str | None = None
        try:
            response = self._invoke(client, params, where, {})
            if response.get("FunctionError"):
                raw = response["Payload"].read()
                try:
                    detail = json.loads(raw)
                    error = f"{detail.get('errorType')}: {detail.get('errorMessage')}"
                except ValueError:
                    error = raw.decode(errors="replace")[:500]
        except DispatchError as exc:
            error = str(exc)
        with self._lock:
            self._sync_errors[pid] = error

    # ------------------------------------------------------------------ observe
    def observe(self, infrastructure_pid: str, config: Mapping[str, Any]) -> Liveness:
        """RequestResponse: ALIVE until the response, GONE on a function error; else UNKNOWN."""
        with self._lock:
            if infrastructure_pid not in self._sync_errors:
                synchronous = (config.get("invocation_type") or "Event") == "RequestResponse"
                return Liveness.ALIVE if synchronous else Liveness.UNKNOWN
            error = self._sync_errors[infrastructure_pid]
        return Liveness.GONE if error else Liveness.UNKNOWN

    def gone_message(self, infrastructure_pid: str) -> str:
        """Why the invocation behind ``infrastructure_pid`` is gone (its function error)."""
        with self._lock:
            error = self._sync_errors.get(infrastructure_pid)
        where = infrastructure_pid.rsplit("::", 1)[0]
        return (
            f"Lambda function {where!r} ended with an error before the flow run finished: {error}"
        )

    def close(self) -> None:
        """Drop the boto3 clients."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()


def _client_error(exc: Any, where: str, region: str) -> DispatchError:
    error = exc.response.get("Error", {})
    code, message = error.get("Code", ""), error.get("Message", str(exc))
    if code == "ResourceNotFoundException":
        return FunctionNotFoundError(
            f"no Lambda function {where!r} in {region} ({message}); fix the 'function_name' "
            "or 'qualifier' job variable, or 'region_name'"
        )
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in _AUTH_CODES or status in (401, 403):
        return DispatchAuthError(
            f"AWS refused the credentials invoking Lambda function {where!r} ({code}: "
            f"{message[:200]}); fix the 'aws_credentials' block or the worker's AWS settings"
        )
    if code in ("RequestTooLargeException", "RequestEntityTooLargeException"):
        return PayloadTooLargeError(
            f"Lambda refused the payload for {where!r} as too large ({message}); shrink the "
            "'payload' job variable"
        )
    return InvocationError(f"Lambda refused invoking {where!r}: {code}: {message}")
