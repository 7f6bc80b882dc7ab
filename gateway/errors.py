"""One base error for the project; subclasses also derive the stdlib category they belong to."""

from __future__ import annotations

from pathlib import Path


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


class ServiceError(DoorcountError, RuntimeError):
    """A part of the running service (the tick source, the broker link) failed: the service
    stops with this one-line cause instead of carrying on as if the stream had ended."""


class BleError(DoorcountError, ConnectionError):
    """A BLE operation with a node failed (connect, GATT, link loss)."""

    def __init__(self, message: str, address: str | None = None) -> None:
        self.address = address
        super().__init__(f"{address}: {message}" if address else message)


class BleStackError(BleError):
    """The BLE stack itself cannot be opened (no BlueZ, a wrong bumble transport): nothing to
    do with any node. `next_step` says what to install, start or configure."""

    def __init__(self, message: str, next_step: str) -> None:
        self.next_step = next_step
        super().__init__(message)


class PairingError(BleError, PermissionError):
    """Pairing was refused or failed; no bond was stored.

    `reason` is the SMP reason name (e.g. CONFIRM_VALUE_FAILED for a wrong passkey).
    """

    def __init__(self, message: str, address: str | None = None, reason: str = "") -> None:
        self.reason = reason
        super().__init__(message, address)


class LinkLostError(BleError):
    """The link to the node dropped in the middle of an operation (it powered off, was reset,
    or went out of range); `reason` is the HCI disconnection reason."""

    def __init__(self, message: str, address: str | None = None, reason: int = 0) -> None:
        self.reason = reason
        super().__init__(message, address)


class NoAnswerError(BleError, TimeoutError):
    """The node took the connection, then answered nothing for `seconds` while the link stayed
    up (its firmware hung, or it went out of range without the link dropping yet)."""

    def __init__(self, message: str, address: str | None = None, seconds: float = 0.0) -> None:
        self.seconds = seconds
        super().__init__(message, address)


class NotBondedError(BleError, PermissionError):
    """The node refused access: this gateway holds no (authenticated) bond with it."""


NOT_BONDED_ATT_CODES = frozenset({0x05, 0x0C, 0x0F})
"""ATT errors meaning "no authenticated, encrypted link": insufficient authentication,
encryption key size, encryption. bleak reports them as `BleakGATTProtocolError.code`."""


class AdvertError(DoorcountError, ValueError):
    """A node advertisement's manufacturer data is malformed."""


class OutputPathError(DoorcountError, OSError):
    """A file doorcount was asked to write cannot be written there (checked before any work)."""


def check_output_path(path: Path, what: str, *, forbid: Path | None = None) -> None:
    """Fail early, with one line, if `path` cannot become a file: its folder is missing (it is
    never created: a typo must not make folders, as root, at the top of the disk), it is a
    folder, or it is `forbid` (an input it would overwrite)."""
    if path.is_dir():
        raise OutputPathError(f"{what} {path} is a folder; give a file name")
    parent = path.parent
    if not parent.is_dir():
        raise OutputPathError(f"{what} {path}: folder {parent} does not exist (create it first)")
    if forbid is not None and path.resolve() == forbid.resolve():
        raise OutputPathError(f"{what} {path} is the input file; it would be overwritten")
