"""Fixtures of the tests of `sources`."""
