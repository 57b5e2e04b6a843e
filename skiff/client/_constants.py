"""Every environment variable name and every tunable number skiff uses, in one place."""

from __future__ import annotations

# Prefect's own names, so an existing deployment's environment works unchanged.
ENV_API_URL = "PREFECT_API_URL"
ENV_API_KEY = "PREFECT_API_KEY"
ENV_API_AUTH_STRING = "PREFECT_API_AUTH_STRING"
ENV_API_REQUEST_TIMEOUT = "PREFECT_API_REQUEST_TIMEOUT"
ENV_CLIENT_MAX_RETRIES = "PREFECT_CLIENT_MAX_RETRIES"
ENV_TLS_INSECURE_SKIP_VERIFY = "PREFECT_API_TLS_INSECURE_SKIP_VERIFY"
ENV_SSL_CERT_FILE = "PREFECT_API_SSL_CERT_FILE"
ENV_FLOW_RUN_ID = "PREFECT__FLOW_RUN_ID"

# skiff's own knobs.
ENV_FLUSH_TIMEOUT = "SKIFF_FLUSH_TIMEOUT"
ENV_FLUSH_INTERVAL = "SKIFF_FLUSH_INTERVAL"
ENV_BUFFER_MAX_BYTES = "SKIFF_BUFFER_MAX_BYTES"
ENV_BUFFER_MAX_ITEMS = "SKIFF_BUFFER_MAX_ITEMS"
ENV_SPOOL_DIR = "SKIFF_SPOOL_DIR"
ENV_STRICT = "SKIFF_STRICT"
ENV_REPORTING = "SKIFF_REPORTING"
# One event per fast task instead of Prefect's three, for very large flows.
ENV_LEAN_TASK_EVENTS = "SKIFF_LEAN_TASK_EVENTS"
ENV_HEARTBEAT_INTERVAL = "SKIFF_HEARTBEAT_INTERVAL"
ENV_BLOCK_KEY = "SKIFF_BLOCK_KEY"

# Serverless deadlines (seconds). Google Cloud Functions (1st gen) and Cloud Run set theirs.
ENV_GCP_FUNCTION_TIMEOUT = "FUNCTION_TIMEOUT_SEC"
ENV_GCP_CLOUD_RUN_TIMEOUT = "CLOUD_RUN_TIMEOUT_SECONDS"
# Azure does not tell the worker its functionTimeout: skiff's setting (seconds or hh:mm:ss),
# else the host.json override an app setting may carry (a TimeSpan; "-1" means none).
ENV_AZURE_FUNCTION_TIMEOUT = "SKIFF_AZURE_FUNCTION_TIMEOUT"
ENV_AZURE_HOST_FUNCTION_TIMEOUT = "AzureFunctionsJobHost__functionTimeout"

# Where each serverless platform puts the facts recorded as flow-run labels (first set wins).
GCP_LABEL_ENV: dict[str, tuple[str, ...]] = {
    "gcp.function.name": ("K_SERVICE", "FUNCTION_NAME"),
    "gcp.function.target": ("FUNCTION_TARGET",),
    "gcp.function.revision": ("K_REVISION", "X_GOOGLE_FUNCTION_VERSION"),
    "gcp.region": ("FUNCTION_REGION", "GOOGLE_CLOUD_REGION"),
    "gcp.project": ("GOOGLE_CLOUD_PROJECT", "GCP_PROJECT", "GCLOUD_PROJECT"),
}
AZURE_LABEL_ENV: dict[str, tuple[str, ...]] = {
    "azure.app": ("WEBSITE_SITE_NAME",),
    "azure.region": ("REGION_NAME",),
}

# The Prefect server version the client is generated for (its spec is
# spec/prefect-server-<SERVER_VERSION>-openapi.json); scripts and tests read it from here.
SERVER_VERSION = "3.9.1"
SPEC_FILE = f"prefect-server-{SERVER_VERSION}-openapi.json"

API_VERSION = "0.8.4"
API_VERSION_HEADER = "X-PREFECT-API-VERSION"
CSRF_TOKEN_HEADER = "Prefect-Csrf-Token"
CSRF_CLIENT_HEADER = "Prefect-Csrf-Client"

DEFAULT_REQUEST_TIMEOUT = 60.0
# Connections per client, as prefect-client bounds its own (16, 8 kept alive): more parallel
# connections only add lock contention on a SQLite server (more 503s).
DEFAULT_MAX_CONNECTIONS = 16
DEFAULT_MAX_KEEPALIVE_CONNECTIONS = 8
DEFAULT_MAX_RETRIES = 5
DEFAULT_FLUSH_TIMEOUT = 10.0
DEFAULT_FLUSH_INTERVAL = 2.0
DEFAULT_HEARTBEAT_INTERVAL = 30.0  # a deployment run's heartbeats (Prefect's minimum)
DEFAULT_BUFFER_MAX_BYTES = 32 * 1024 * 1024
DEFAULT_BUFFER_MAX_ITEMS = 100_000

# Retry policy (see skiff/client/_retry.py for how these are used).
RETRY_STATUS_CODES = frozenset({408, 429, 502, 503})
# Transient failures (connection errors, 408, 502): short waits, so a dead server fails fast.
RETRY_INITIAL_DELAY = 0.5
RETRY_MAX_DELAY = 10.0
RETRY_JITTER = 0.25
# "Busy" answers: the server is up but saturated (SQLite's "database is locked" is a 503).
# Wait as long as prefect-client does, 2, 4, 8, 16, 32 s (about 62 s over the default 5
# retries), or a busy server outlasts the client.
BUSY_STATUS_CODES = frozenset({429, 503})
BUSY_INITIAL_DELAY = 2.0
BUSY_MAX_DELAY = 32.0
BUSY_JITTER = 0.2
# Honour the server's Retry-After: wait at least that, times up to 1 + RETRY_AFTER_JITTER
# (as prefect-client does, so clients told the same value do not return at once), but never
# longer than RETRY_AFTER_CAP for one attempt.
RETRY_AFTER_JITTER = 0.2
RETRY_AFTER_CAP = 60.0
