"""Test support: real servers, simulated nodes and data builders shared by the test folders.

Fixtures defined here reach every test through `pytest_plugins` in `tests/conftest.py`;
tests import only plain helpers (classes, functions) from here, never fixtures.
"""
