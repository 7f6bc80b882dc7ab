"""Shared pytest configuration for the whole suite.

Tests mirror the source tree (tests/core for gateway/core, ...), each folder with its own
conftest.py for its own fixtures. The real servers many folders need (Mosquitto, VictoriaMetrics,
InfluxDB 1.x) are fixtures of `tests/support`, registered here once.
"""

pytest_plugins = ["tests.support.mqtt", "tests.support.tsdb", "tests.support.deploy"]
