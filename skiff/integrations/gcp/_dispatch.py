"""Cloud Functions dispatch: the ``cloud-functions`` pool type of ``skiff worker``.

For each flow run the worker hands over, :class:`CloudFunctionsDispatcher`:

1. finds the function's URL with google-cloud-functions' ``FunctionServiceClient.get_function``
   (once per function: the answer is cached until a call gets a 404);
2. calls it over HTTP with ``{"flow_run_id": ...}`` as the JSON body, or, for a
   ``cloud_event_flow`` function (``trigger="cloudevent"``, the default for a function
   with an event trigger), as a binary-mode CloudEvent whose data is that payload; the
   call carries a Google ID token for the URL (``auth="id_token"``: from the credentials
   block's service account, else Application Default Credentials), or none
   (``auth="none"``: anonymous to the admin API too, for public functions and emulators);
3. returns ``projects/P/locations/L/functions/F::<execution id>`` once the request is sent
   and no refusal (a 4xx) came back within half a second (the id goes in the
   ``Function-Execution-Id`` header). The call stays open in a thread until the flow ends; :meth:`observe` reports it
   gone when it ended, so a function that died leaves no run Running.

Bad input is a typed error whose message names the fix: a missing or misspelled function
(:class:`~skiff.integrations.worker.FunctionNotFoundError`), missing or refused
credentials (:class:`~skiff.integrations.worker.DispatchAuthError`), an unreachable API
or function (:class:`~skiff.integrations.worker.InvocationError`), a missing project or
region (:class:`~skiff.integrations.worker.JobVariablesError`).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar, NamedTuple

from skiff._exceptions import MissingExtraError
from skiff.integrations.gcp.credentials import GcpCredentials
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

__all__ = ["CloudFunctionsDispatcher"]

_ADMIN_TIMEOUT = 30.0
# ID tokens live an hour; fetch a new one well before.
_TOKEN_LIFETIME = 45 * 60.0
_EVENT_TYPE = "dev.skiff.flow-run.submitted"


class _Function(NamedTuple):
    url: str
    event_type: str  # "" for an HTTP function


class CloudFunctionsDispatcher(HttpDispatcher):
    """Starts flow runs in Cloud Functions (2nd gen) through their HTTP endpoint."""

    type: ClassVar[str] = "cloud-functions"
    extra: ClassVar[str] = "gcp"
    variables: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "properties": {
            "function_name": {
                "title": "Function Name",
                "description": (
                    "The function's name, or its full name projects/P/locations/L/functions/F."
                ),
                "type": "string",
            },
            "project": {
                "title": "Project",
                "description": "The Google Cloud project (default: the credentials block's).",
                "type": "string",
            },
            "region": {
                "title": "Region",
                "description": "The function's region (location), e.g. europe-west1.",
                "type": "string",
            },
            "credentials": {
                "title": "GCP Credentials",
                "description": (
                    "A service account for the admin API and the ID token (default: "
                    "Application Default Credentials)."
                ),
                "allOf": [{"$ref": "#/definitions/GcpCredentials"}],
            },
            "trigger": {
                "title": "Trigger",
                "description": (
                    "http: a JSON body, for http_flow functions; cloudevent: a CloudEvent, "
                    "for cloud_event_flow functions (default: cloudevent when the function "
                    "has an event trigger, else http)."
                ),
                "type": "string",
                "enum": ["http", "cloudevent"],
            },
            "auth": {
                "title": "Authentication",
                "description": (
                    "id_token: a Google ID token on each call (the invoker role); none: no "
                    "credentials anywhere, for public functions and local stand-ins."
                ),
                "type": "string",
                "enum": ["id_token", "none"],
                "default": "id_token",
            },
            "api_endpoint": {
                "title": "API Endpoint",
                "description": "The Cloud Functions API (default cloudfunctions.googleapis.com).",
                "type": "string",
            },
            "timeout": {
                "title": "Timeout",
                "description": (
                    "Seconds the worker holds the HTTP call open: at least the function's "
                    "own timeout (HTTP functions allow up to 3600)."
                ),
                "type": "number",
                "default": 3600,
            },
            "start_timeout": dict(COMMON_VARIABLES["start_timeout"]),
            "heartbeat_timeout": dict(COMMON_VARIABLES["heartbeat_timeout"]),
        },
        "required": ["function_name"],
        "definitions": block_definitions(GcpCredentials),
    }

    def __init__(self) -> None:
        """No Google SDK is imported until the first :meth:`submit`."""
        super().__init__()
        self._lock = threading.Lock()
        self._functions: dict[tuple[str, str], _Function] = {}
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}

    # ------------------------------------------------------------------ submit
    def submit(self, request: DispatchRequest, config: Mapping[str, Any]) -> str:
        """Call the function for ``request``; ``<function name>::<execution id>`` once sent."""
        name = _function_name(config)
        function = self._resolve(name, config)
        execution_id = uuid.uuid4().hex
        headers = {"Function-Execution-Id": execution_id}
        anonymous = config.get("auth") == "none"
        if not anonymous:
            headers["Authorization"] = f"Bearer {self._id_token(function.url, config)}"
        trigger = config.get("trigger") or ("cloudevent" if function.event_type else "http")
        body = json.dumps(dict(request.payload))
        if trigger == "cloudevent":
            headers.update(
                {
                    "ce-id": execution_id,
                    "ce-specversion": "1.0",
                    "ce-type": _EVENT_TYPE,
                    "ce-source": f"//skiff/deployments/{request.deployment_id}",
                    "ce-subject": f"flow-runs/{request.flow_run_id}",
                }
            )
        headers["Content-Type"] = "application/json"
        pid = f"{name}::{execution_id}"
        http = self.calls.build(
            "POST",
            function.url,
            timeout=float(config.get("timeout") or 3600),
            content=body,
            headers=headers,
        )

        def refused(status: int, text: str) -> DispatchError | None:
            if status == 404:
                self._forget(name, config)
                return FunctionNotFoundError(
                    f"{function.url} (Cloud Function {name}) answered 404: the function "
                    f"moved or was deleted; redeploy it or fix function_name"
                )
            if status in (401, 403):
                fix = (
                    "give the worker's service account roles/run.invoker on the function"
                    if not anonymous
                    else "set auth to id_token (and credentials) in the job variables"
                )
                return DispatchAuthError(
                    f"Cloud Function {name} refused the call ({status}): {fix}"
                )
            if status == 429:
                return InvocationError(f"Cloud Function {name} is throttling calls (429)")
            return None

        def unreachable(exc: Exception) -> DispatchError:
            return InvocationError(
                f"could not call Cloud Function {name} at {function.url} "
                f"({type(exc).__name__}: {exc}); check that the worker can reach it"
            )

        self.calls.start(pid, http, refused=refused, unreachable=unreachable)
        return pid

    # ------------------------------------------------------------------ the function's URL
    def _resolve(self, name: str, config: Mapping[str, Any]) -> _Function:
        key = (str(config.get("api_endpoint") or ""), name)
        with self._lock:
            known = self._functions.get(key)
        if known is not None:
            return known
        found = _get_function(name, config)
        with self._lock:
            self._functions[key] = found
        return found

    def _forget(self, name: str, config: Mapping[str, Any]) -> None:
        with self._lock:
            self._functions.pop((str(config.get("api_endpoint") or ""), name), None)

    def _id_token(self, audience: str, config: Mapping[str, Any]) -> str:
        # One token per audience and identity: deployments may use different accounts.
        identity = json.dumps(config.get("credentials"), sort_keys=True, default=str)
        key = (audience, identity)
        with self._lock:
            cached = self._tokens.get(key)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        token = _fetch_id_token(audience, config)
        with self._lock:
            self._tokens[key] = (token, time.monotonic() + _TOKEN_LIFETIME)
        return token


def _function_name(config: Mapping[str, Any]) -> str:
    """``projects/P/locations/L/functions/F`` from the job variables."""
    function = config.get("function_name")
    if not isinstance(function, str) or not function.strip():
        raise JobVariablesError(
            "the cloud-functions job variables lack function_name: set it to the function's "
            "name (with project and region) or to projects/P/locations/L/functions/F"
        )
    function = function.strip()
    if function.startswith("projects/"):
        parts = function.split("/")
        if len(parts) != 6 or parts[2] != "locations" or parts[4] != "functions":
            raise JobVariablesError(
                f"function_name={function!r} is not projects/P/locations/L/functions/F"
            )
        return function
    project = config.get("project") or _credentials_project(config)
    region = config.get("region")
    missing = [v for v, value in (("project", project), ("region", region)) if not value]
    if missing:
        raise JobVariablesError(
            f"Cloud Function {function!r} needs {' and '.join(missing)} in the job variables "
            f"(or a full function_name projects/P/locations/L/functions/F)"
        )
    return f"projects/{project}/locations/{region}/functions/{function}"


def _credentials_block(config: Mapping[str, Any]) -> Any:
    data = config.get("credentials")
    if not data:
        return None
    try:
        return GcpCredentials(**data)  # BlockValidationError: fields named, values never
    except ValueError as exc:
        raise JobVariablesError(
            f"the credentials job variable is not a GCP Credentials block: {exc}"
        ) from None


def _credentials_project(config: Mapping[str, Any]) -> str | None:
    block = _credentials_block(config)
    return block.get_project() if block is not None else None


def _google_credentials(config: Mapping[str, Any]) -> Any:
    """Credentials for the admin API: anonymous, the block's, or Application Default."""
    try:
        import google.auth
        from google.auth import exceptions
        from google.auth.credentials import AnonymousCredentials
    except ImportError:
        raise MissingExtraError("gcp", "google-auth") from None
    if config.get("auth") == "none":
        return AnonymousCredentials()  # type: ignore[no-untyped-call]
    block = _credentials_block(config)
    try:
        if block is not None:
            return block.get_credentials()
        credentials, _ = google.auth.default(
            scopes=["https://www.googleapis.com/auth/cloud-platform"]
        )
        return credentials
    except exceptions.GoogleAuthError as exc:
        raise DispatchAuthError(
            f"no usable Google credentials ({exc}): set credentials to a GCP Credentials "
            f"block, or GOOGLE_APPLICATION_CREDENTIALS on the worker, or auth to none for a "
            f"public function"
        ) from None


def _get_function(name: str, config: Mapping[str, Any]) -> _Function:
    """The function's URL and event type, from the admin API."""
    try:
        from google.api_core import exceptions as api
        from google.auth import exceptions as auth
        from google.cloud.functions_v2 import FunctionServiceClient
        from requests import RequestException
    except ImportError:
        raise MissingExtraError("gcp", "google-cloud-functions") from None
    endpoint = config.get("api_endpoint")
    options = {"api_endpoint": endpoint} if endpoint else None
    where = endpoint or "cloudfunctions.googleapis.com"
    client = FunctionServiceClient(
        credentials=_google_credentials(config), transport="rest", client_options=options
    )
    try:
        found = client.get_function(name=name, timeout=_ADMIN_TIMEOUT)
    except api.NotFound:
        raise FunctionNotFoundError(
            f"Cloud Function {name} does not exist: check function_name, region and project "
            f"in the deployment's job variables"
        ) from None
    except (api.Unauthenticated, api.PermissionDenied, api.Forbidden) as exc:
        raise DispatchAuthError(
            f"the Cloud Functions API refused to read {name} ({type(exc).__name__}: "
            f"{exc.message}): use credentials with roles/cloudfunctions.viewer on the project"
        ) from None
    except auth.GoogleAuthError as exc:
        # Anonymous credentials the API refused, or a key Google's token endpoint refused.
        raise DispatchAuthError(
            f"the credentials could not read Cloud Function {name} ({type(exc).__name__}: "
            f"{exc}): fix the credentials block's service account key, or use auth none only "
            f"for an API that allows anonymous calls"
        ) from None
    except (api.GoogleAPICallError, RequestException) as exc:
        raise InvocationError(
            f"could not read Cloud Function {name} from {where} ({type(exc).__name__}: "
            f"{exc}); check api_endpoint and the worker's network"
        ) from None
    finally:
        client.transport.close()  # type: ignore[no-untyped-call]
    url = found.url or found.service_config.uri
    if not url:
        raise FunctionNotFoundError(
            f"Cloud Function {name} has no URL yet (state {found.state.name}): wait for its "
            f"deployment to finish"
        )
    return _Function(url, found.event_trigger.event_type)


def _fetch_id_token(audience: str, config: Mapping[str, Any]) -> str:
    """An ID token for ``audience``: the block's service account, else ADC's."""
    try:
        from google.auth import exceptions
        from google.auth.transport.requests import Request
        from google.oauth2 import id_token, service_account
    except ImportError:
        raise MissingExtraError("gcp", "google-auth") from None
    block = _credentials_block(config)
    try:
        if block is not None and block.service_account_info is not None:
            info = block.service_account_info.get_secret_value()
            credentials = service_account.IDTokenCredentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, target_audience=audience
            )
        elif block is not None and block.service_account_file is not None:
            credentials = service_account.IDTokenCredentials.from_service_account_file(  # type: ignore[no-untyped-call]
                str(block.service_account_file.expanduser()), target_audience=audience
            )
        else:
            return str(id_token.fetch_id_token(Request(), audience))  # type: ignore[no-untyped-call]
        credentials.refresh(Request())
        return str(credentials.token)
    except exceptions.GoogleAuthError as exc:
        raise DispatchAuthError(
            f"could not get an ID token for {audience} ({type(exc).__name__}: {exc}): check "
            f"the credentials block's service account key (or the worker's Application "
            f"Default Credentials), or set auth to none for a public function"
        ) from None
