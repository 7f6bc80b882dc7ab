"""Fixtures of the tests of `firmware`."""
