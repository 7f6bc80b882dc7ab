"""Fixtures of the tests of `protocol`."""
