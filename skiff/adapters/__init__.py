"""skiff.adapters."""
