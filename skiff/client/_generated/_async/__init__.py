"""Generated async resources (the source of the sync twin)."""
