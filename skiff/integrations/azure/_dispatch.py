"""Azure Functions dispatch: the ``azure-functions`` pool type of ``skiff worker``.

For each flow run the worker hands over, :class:`AzureFunctionsDispatcher` starts the
function in one of two ways (the ``trigger`` job variable):

* ``http``: a ``POST {base_url}/api/{route}`` with ``{"flow_run_id": ...}`` as the JSON
  body and the function key in the ``x-functions-key`` header (``function_key``; none for
  an anonymous function). The request id goes in ``x-ms-client-request-id``; the call
  stays open in a thread until the flow ends, and :meth:`observe` reports it gone once it
  ended. The pid is ``<app>/<function>::<request id>``, returned once the request is sent
  and no refusal (a 4xx) came back within half a second.
* ``queue``: a storage-queue message ``{"flow_run_id": ...}`` on ``queue_name``, base64
  encoded, which is what the Functions host's queue trigger expects by default
  (host.json ``extensions.queues.messageEncoding`` = ``base64``); the host decodes it and
  the adapter's queue trigger reads the JSON. The storage account comes from
  ``storage_credentials`` (an Azure Blob Storage Credentials block: its connection string,
  or its account URL with the ``.blob.`` host changed to ``.queue.``). The pid is
  ``<app>/<function>::<message id>``, known as soon as the queue accepts the message.

Bad input is a typed error whose message names the fix: no such function or queue
(:class:`~skiff.integrations.worker.FunctionNotFoundError`), a missing or wrong function
key or storage credential (:class:`~skiff.integrations.worker.DispatchAuthError`), an
unreachable app or account (:class:`~skiff.integrations.worker.InvocationError`), a
missing variable (:class:`~skiff.integrations.worker.JobVariablesError`).
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

from skiff._exceptions import MissingExtraError
from skiff.integrations.azure.credentials import AzureBlobStorageCredentials
from skiff.integrations.worker._dispatch import (
    COMMON_VARIABLES,
    DispatchAuthError,
    DispatchError,
    DispatchRequest,
    FunctionNotFoundError,
    InvocationError,
    JobVariablesError,
    block_definitions,
)
from skiff.integrations.worker._http_call import HttpDispatcher

__all__ = ["AzureFunctionsDispatcher", "encode_queue_message"]

# Azure's front end cuts HTTP triggers at 230 s whatever the function's timeout.
_HTTP_TIMEOUT = 230


def encode_queue_message(payload: Mapping[str, Any]) -> str:
    """The queue message text for ``payload``: base64 JSON, as the host's trigger decodes it."""
    return base64.b64encode(json.dumps(dict(payload)).encode()).decode()


class AzureFunctionsDispatcher(HttpDispatcher):
    """Starts flow runs in Azure Functions through an HTTP trigger or a storage queue."""

    type: ClassVar[str] = "azure-functions"
    extra: ClassVar[str] = "azure"
    variables: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "properties": {
            "app_name": {
                "title": "Function App",
                "description": "The function app's name (its URL is https://<app>.azurewebsites.net).",
                "type": "string",
            },
            "function_name": {
                "title": "Function Name",
                "description": "The function in the app (for the pid, and the default route).",
                "type": "string",
            },
            "trigger": {
                "title": "Trigger",
                "description": "http: call its HTTP trigger; queue: put a message on its queue.",
                "type": "string",
                "enum": ["http", "queue"],
                "default": "http",
            },
            "base_url": {
                "title": "Base URL",
                "description": "The app's URL (default https://<app>.azurewebsites.net).",
                "type": "string",
            },
            "route": {
                "title": "Route",
                "description": "The HTTP trigger's route under /api (default: the function name).",
                "type": "string",
            },
            "function_key": {
                "title": "Function Key",
                "description": "Sent as x-functions-key (none for an anonymous function).",
                "type": "string",
                "format": "password",
                "writeOnly": True,
            },
            "queue_name": {
                "title": "Queue Name",
                "description": "The storage queue a queue-triggered function reads.",
                "type": "string",
            },
            "storage_credentials": {
                "title": "Storage Credentials",
                "description": "The storage account holding the queue.",
                "allOf": [{"$ref": "#/definitions/AzureBlobStorageCredentials"}],
            },
            "timeout": {
                "title": "Timeout",
                "description": "Seconds the worker holds an HTTP call open (Azure stops at 230).",
                "type": "number",
                "default": _HTTP_TIMEOUT,
            },
            "start_timeout": dict(COMMON_VARIABLES["start_timeout"]),
            "heartbeat_timeout": dict(COMMON_VARIABLES["heartbeat_timeout"]),
        },
        "required": ["function_name"],  # app_name is usually the pool's default
        "definitions": block_definitions(AzureBlobStorageCredentials),
    }

    def __init__(self) -> None:
        """No Azure SDK is imported until the first queue :meth:`submit`."""
        super().__init__()
        self._lock = threading.Lock()
        self._queues: dict[tuple[str, str], Any] = {}

    def submit(self, request: DispatchRequest, config: Mapping[str, Any]) -> str:
        """Invoke the function for ``request``; ``<app>/<function>::<id>`` once accepted."""
        app, function = _required(config, "app_name"), _required(config, "function_name")
        trigger = config.get("trigger") or "http"
        if trigger == "queue":
            return f"{app}/{function}::{self._enqueue(request, config)}"
        if trigger != "http":
            raise JobVariablesError(f"trigger={trigger!r}: use http or queue")
        return self._call(app, function, request, config)

    def close(self) -> None:
        """Close the HTTP connections and the queue clients."""
        super().close()
        with self._lock:
            queues, self._queues = list(self._queues.values()), {}
        for queue in queues:
            queue.close()

    # ------------------------------------------------------------------ HTTP trigger
    def _call(
        self, app: str, function: str, request: DispatchRequest, config: Mapping[str, Any]
    ) -> str:
        base = str(config.get("base_url") or f"https://{app}.azurewebsites.net").rstrip("/")
        route = str(config.get("route") or function).strip("/")
        url = f"{base}/api/{route}"
        request_id = str(uuid.uuid4())
        headers = {"x-ms-client-request-id": request_id, "Content-Type": "application/json"}
        key = config.get("function_key")
        if key:
            headers["x-functions-key"] = str(key)
        http = self.calls.build(
            "POST",
            url,
            timeout=float(config.get("timeout") or _HTTP_TIMEOUT),
            content=json.dumps(dict(request.payload)),
            headers=headers,
        )
        name = f"{app}/{function}"

        def refused(status: int, text: str) -> DispatchError | None:
            if status == 404:
                return FunctionNotFoundError(
                    f"{url} answered 404: no HTTP-triggered function {name} at that route; "
                    f"check app_name, base_url, route and function_name"
                )
            if status in (401, 403):
                what = "function_key is wrong: set it" if key else "set function_key"
                return DispatchAuthError(
                    f"Azure function {name} refused the call ({status}): {what} in the job "
                    f"variables to the function's key (portal: the function > Function Keys)"
                )
            if status == 429:
                return InvocationError(f"Azure function {name} is throttling calls (429)")
            return None

        def unreachable(exc: Exception) -> DispatchError:
            return InvocationError(
                f"could not call Azure function {name} at {url} ({type(exc).__name__}: "
                f"{exc}); check base_url and that the app is running"
            )

        pid = f"{name}::{request_id}"
        self.calls.start(pid, http, refused=refused, unreachable=unreachable)
        return pid

    # ------------------------------------------------------------------ queue trigger
    def _enqueue(self, request: DispatchRequest, config: Mapping[str, Any]) -> str:
        try:
            from azure.core import exceptions
        except ImportError:
            raise MissingExtraError("azure", "azure-storage-queue") from None
        queue_name = _required(config, "queue_name")
        queue = self._queue(queue_name, config)
        try:
            sent = queue.send_message(encode_queue_message(request.payload), timeout=30)
        except exceptions.ResourceNotFoundError:
            raise FunctionNotFoundError(
                f"storage queue {queue_name!r} does not exist in the account: create it, or "
                f"fix queue_name to the one the function's queue_trigger reads"
            ) from None
        except exceptions.ClientAuthenticationError:
            raise DispatchAuthError(
                f"the storage account refused the credentials for queue {queue_name!r}: fix "
                f"storage_credentials (its connection string or service principal)"
            ) from None
        except exceptions.AzureError as exc:
            raise InvocationError(
                f"could not put a message on queue {queue_name!r} ({type(exc).__name__}: "
                f"{exc}); check storage_credentials and the worker's network"
            ) from None
        return str(sent.id)

    def _queue(self, queue_name: str, config: Mapping[str, Any]) -> Any:
        block = _storage_block(config)
        secret = block.connection_string
        source = secret.get_secret_value() if secret is not None else str(block.account_url)
        cache = (source, queue_name)
        with self._lock:
            if cache in self._queues:
                return self._queues[cache]
        try:
            from azure.storage.queue import QueueClient
        except ImportError:
            raise MissingExtraError("azure", "azure-storage-queue") from None
        try:
            if secret is not None:
                queue = QueueClient.from_connection_string(source, queue_name)
            else:
                account = source.replace(".blob.", ".queue.")
                queue = QueueClient(account, queue_name, credential=block.get_credential())
        except ValueError as exc:
            raise DispatchAuthError(
                f"storage_credentials cannot reach a queue ({exc}): give a connection string "
                f"or an account URL"
            ) from None
        with self._lock:
            return self._queues.setdefault(cache, queue)


def _required(config: Mapping[str, Any], variable: str) -> str:
    value = config.get(variable)
    if not isinstance(value, str) or not value.strip():
        raise JobVariablesError(
            f"the azure-functions job variables lack {variable}: set it in the pool's or the "
            f"deployment's job variables"
        )
    return value.strip()


def _storage_block(config: Mapping[str, Any]) -> Any:
    data = config.get("storage_credentials")
    if not data:
        raise JobVariablesError(
            "a queue trigger needs storage_credentials: an Azure Blob Storage Credentials "
            "block for the account that holds the queue"
        )
    try:
        return AzureBlobStorageCredentials(**data)  # errors name fields, never values
    except ValueError as exc:
        raise JobVariablesError(
            f"storage_credentials is not an Azure Blob Storage Credentials block: {exc}"
        ) from None
