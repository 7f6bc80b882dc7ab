"""Fixtures of the tests of `benchmarks`."""
