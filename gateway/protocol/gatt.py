"""The node's BLE contract (see firmware_notes/gatt.md): UUIDs, advertisement and passkeys.

Plain data with no BLE library imports, so the gateway, the simulator and the firmware notes
agree on one definition. UUIDs are in bleak's lowercase 128-bit form.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.errors import AdvertError, PairingError

SERVICE_UUID = "5f2d0001-8a4b-4f6e-9b3c-1d7e0a2c4b60"
TICK_UUID = "5f2d0002-8a4b-4f6e-9b3c-1d7e0a2c4b60"
"""Notify: one wire frame per notification (HELLO, TICK_BATCH, TIME_ECHO)."""
CONTROL_UUID = "5f2d0003-8a4b-4f6e-9b3c-1d7e0a2c4b60"
"""Write with response: one wire frame per write (RESUME, TIME_PING, IDENTIFY, SET_CONFIG)."""
STATUS_UUID = "5f2d0004-8a4b-4f6e-9b3c-1d7e0a2c4b60"
"""Read/notify: the latest STATUS frame; notified every status period."""

BATTERY_SERVICE_UUID = "0000180f-0000-1000-8000-00805f9b34fb"
DEVICE_INFORMATION_UUID = "0000180a-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"
SERIAL_NUMBER_UUID = "00002a25-0000-1000-8000-00805f9b34fb"
FIRMWARE_REVISION_UUID = "00002a26-0000-1000-8000-00805f9b34fb"

COMPANY_ID = 0xFFFF
"""Bluetooth SIG 'test/internal use' company id, until the product has an assigned one."""
ADVERT_VERSION = 1
PASSKEY_DIGITS = 6
PAIRING_WINDOW_S = 120.0
"""How long the node accepts new bonds after its pairing button is pressed."""
MTU = 247


class AdvertFlags(enum.IntFlag):
    PAIRING_OPEN = 0x01
    """The pairing window is open: the node accepts a new bond now."""
    BONDED = 0x02
    """The node holds at least one bond."""


@dataclass(frozen=True, slots=True)
class NodeAdvert:
    """The manufacturer-specific data (after the company id) a node advertises."""

    version: int
    flags: AdvertFlags

    SIZE = 2

    def __post_init__(self) -> None:
        if not 0 <= self.version <= 0xFF:
            raise AdvertError(f"advert version must be 0..255, got {self.version}")

    @property
    def pairing_open(self) -> bool:
        return AdvertFlags.PAIRING_OPEN in self.flags

    @classmethod
    def from_bytes(cls, data: bytes) -> NodeAdvert:
        if len(data) < cls.SIZE:
            raise AdvertError(f"node advert needs {cls.SIZE} bytes, got {len(data)}")
        if data[0] != ADVERT_VERSION:
            raise AdvertError(f"node advert version {data[0]} is not supported")
        return cls(data[0], AdvertFlags(data[1] & (AdvertFlags.PAIRING_OPEN | AdvertFlags.BONDED)))

    def __bytes__(self) -> bytes:
        return bytes((self.version, int(self.flags)))


def parse_passkey(text: str | int) -> int:
    """The 6-digit passkey printed on a node's label, as SMP wants it (0..999999)."""
    if isinstance(text, int) and 0 <= text < 10**PASSKEY_DIGITS:
        return text
    raw = str(text).strip().replace(" ", "")
    well_formed = len(raw) == PASSKEY_DIGITS and raw.isascii() and raw.isdigit()
    if isinstance(text, int) or not well_formed:
        raise PairingError(
            f"the passkey must be the {PASSKEY_DIGITS} digits on the node's label, got {text!r}",
            reason="BAD_PASSKEY_FORMAT",
        )
    return int(raw)
