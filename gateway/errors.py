"""One base error for the project; subclasses also derive the stdlib category they belong to."""

from __future__ import annotations


class DoorcountError(Exception):
    """Base of every error doorcount raises on purpose."""


class ConfigError(DoorcountError, ValueError):
    """A configuration value is missing, malformed or inconsistent."""


class TraceError(DoorcountError, ValueError):
    """A trace line is malformed; carries the 1-based line number when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        self.reason = message
        super().__init__(f"line {line}: {message}" if line is not None else message)
