"""Fixtures of the tests of `system`."""
