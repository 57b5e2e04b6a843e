"""skiff.client/_generated."""
