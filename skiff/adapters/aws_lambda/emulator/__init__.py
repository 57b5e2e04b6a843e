"""Local AWS Lambda emulator (moved to a package; see ``host``)."""

from .host import REQUEST_ID_HEADER, FunctionConfig, InvocationResult, LambdaEmulator, main

__all__ = ["REQUEST_ID_HEADER", "FunctionConfig", "InvocationResult", "LambdaEmulator", "main"]
