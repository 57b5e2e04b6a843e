"""skiff.integrations."""
