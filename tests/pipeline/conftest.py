"""Fixtures of the tests of `pipeline`."""
