"""A local AWS Lambda: the real ``awslambdaric`` runtime client under emulated Lambda APIs.

Each function gets a sandbox: an ``awslambdaric`` subprocess (and the function's external
extensions) talking to a private server on 127.0.0.1 that implements the Lambda Runtime
API and the Extensions API at ``AWS_LAMBDA_RUNTIME_API``. Like real Lambda, a sandbox is
started on first use (cold start) and reused afterwards (warm); an invocation's phase ends
only when the runtime and every registered extension have called ``next``, and only then
is the sandbox frozen (SIGSTOP) until the next invocation; a sandbox that passes its
deadline, crashes or fails init is reset, through the shutdown phase (SIGTERM to the
runtime, SHUTDOWN to external extensions, SIGKILL at the limit).

The emulator serves the Lambda Invoke API, so boto3 can call the functions; the caller's
answer comes back as soon as the runtime posts it::

    with LambdaEmulator([FunctionConfig("fn", "app.handler", "/path/to/src")]) as emu:
        client = boto3.client("lambda", endpoint_url=emu.endpoint_url, region_name="us-east-1",
                              aws_access_key_id="x", aws_secret_access_key="x")
        client.invoke(FunctionName="fn", Payload=b"{}")
        emu.invocations("fn")  # timing records: response_duration, duration (billed)

Send the header ``X-Skiff-Request-Id`` with an Invoke API call to pin the invocation's
request id (to replay a delivery, for instance). Invocations of one function run one at a
time, as on a single Lambda instance. ``GET /_skiff/functions/{name}/invocations`` on the
same endpoint lists the finished invocations' timing records as JSON.

Run ``skiff-lambda-emulator --help`` (or ``python -m skiff.adapters.aws_lambda.emulator``)
for the command line.
"""

from .cli import main
from .extensions import ExtensionError, RegisteredExtension
from .host import LambdaEmulator
from .invoke import REQUEST_ID_HEADER, InvocationResult
from .sandbox import FunctionConfig

__all__ = [
    "REQUEST_ID_HEADER",
    "ExtensionError",
    "FunctionConfig",
    "InvocationResult",
    "LambdaEmulator",
    "RegisteredExtension",
    "main",
]
