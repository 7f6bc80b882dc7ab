"""Fixtures of the tests of `insight`."""
