"""skiff's benchmark suite against prefect-client; run it with ``bash scripts/bench``."""
