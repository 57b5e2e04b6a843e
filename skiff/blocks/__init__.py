"""skiff.blocks."""
