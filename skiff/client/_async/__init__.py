"""Client implementation; the async code here is the source the sync twin is generated from."""
