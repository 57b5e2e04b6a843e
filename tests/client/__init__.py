"""Tests of skiff.client."""
