"""Developer scripts: code generation, the real-server harness, unasync."""
