"""Fixtures of the tests of `core`."""
