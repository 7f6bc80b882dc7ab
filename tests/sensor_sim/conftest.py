"""Fixtures of the tests of `sensor_sim`."""
