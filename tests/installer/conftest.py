"""Fixtures of the tests of `installer`."""
