"""Fixtures of the tests of `evaluation`."""
