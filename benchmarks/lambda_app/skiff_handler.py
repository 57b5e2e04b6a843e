"""A Lambda handler wrapped by skiff: the invocation is the flow run."""

from skiff.adapters.aws_lambda import lambda_flow


@lambda_flow
def handler(event: dict[str, object], context: object) -> dict[str, bool]:
    return {"ok": True}
