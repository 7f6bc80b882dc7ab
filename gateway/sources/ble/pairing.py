"""The installer's BLE operations: scan, pair, unpair, identify, one node at a time.

Async building blocks for the `doorcount` installer commands, on bleak's public API with the
configured backend. Pairing is LE Secure Connections with the passkey printed on the node's
label, typed by the backend's agent (bumble delegate or BlueZ agent); a wrong passkey raises
`PairingError` and leaves no bond. Each call makes its own short connection: while the gateway
service holds a node's link, use `Ingest.send` to identify it instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError

from gateway.errors import AdvertError, BleError, NoAnswerError, PairingError
from gateway.protocol import wire
from gateway.protocol.gatt import (
    COMPANY_ID,
    CONTROL_UUID,
    SERIAL_NUMBER_UUID,
    SERVICE_UUID,
    STATUS_UUID,
    NodeAdvert,
    parse_passkey,
)
from gateway.sources.ble.backend import Backend
from gateway.sources.ble.ingest import PairedNode


@dataclass(frozen=True, slots=True)
class FoundNode:
    """A doorcount node heard while scanning."""

    address: str
    rssi: int
    advert: NodeAdvert | None
    """None when the manufacturer data is missing or malformed (not a node we can pair)."""

    @property
    def pairing_open(self) -> bool:
        return self.advert is not None and self.advert.pairing_open


async def scan(backend: Backend, seconds: float = 5.0) -> list[FoundNode]:
    """Nodes advertising the doorcount service, strongest first."""
    found: dict[str, FoundNode] = {}

    def seen(device: BLEDevice, adv: AdvertisementData) -> None:
        raw = adv.manufacturer_data.get(COMPANY_ID)
        advert = None
        if raw is not None:
            with contextlib.suppress(AdvertError):
                advert = NodeAdvert.from_bytes(raw)
        found[device.address.upper()] = FoundNode(device.address.upper(), adv.rssi, advert)

    scanner = BleakScanner(seen, [SERVICE_UUID], **backend.scanner_kwargs())
    await scanner.start()
    try:
        await asyncio.sleep(seconds)
    finally:
        await scanner.stop()
    return sorted(found.values(), key=lambda f: -f.rssi)


async def pair(
    backend: Backend, address: str, passkey: str | int, *, timeout: float = 30.0
) -> PairedNode:
    """Bond with the node at `address` using its label passkey; returns its id and address.

    The node must be in pairing mode (its button pressed). After pairing, a read of the
    protected status characteristic proves the bond works before this returns. Out of time
    once connected, it raises `NoAnswerError`: the node took the link, then went silent.
    """
    key = parse_passkey(passkey)
    address = address.upper()
    agent = await backend.agent()
    agent.expect_passkey(address, key)
    client = BleakClient(address, timeout=timeout, **backend.client_kwargs())
    connected = False
    try:
        async with asyncio.timeout(timeout):
            await client.connect()
            connected = True
            await client.pair()
            await client.read_gatt_char(STATUS_UUID)
            raw = await client.read_gatt_char(SERIAL_NUMBER_UUID)
    except TimeoutError:
        if connected:
            raise NoAnswerError(
                f"connected, then no answer within {timeout:g} s", address, timeout
            ) from None
        raise BleError(f"no connection within {timeout:g} s", address) from None
    except BleakError as exc:
        raise PairingError(f"pairing failed: {exc}", address) from exc
    finally:
        agent.forget_passkey(address)
        with contextlib.suppress(BleakError, BleError):
            await client.disconnect()
    node = bytes(raw).decode("ascii", errors="replace").strip()
    if not node:
        raise BleError("the node reports an empty serial number (node id)", address)
    return PairedNode(node, address)


async def unpair(backend: Backend, address: str) -> None:
    """Forget this gateway's bond with the node (the node keeps its side until re-paired)."""
    client = BleakClient(address.upper(), **backend.client_kwargs())
    await client.unpair()


async def identify(
    backend: Backend, address: str, seconds: int = 10, *, timeout: float = 20.0
) -> None:
    """Blink the node's LED for `seconds` (0 stops it) so an installer can find it."""
    frame = wire.Identify(seconds)
    client = BleakClient(address.upper(), timeout=timeout, **backend.client_kwargs())
    async with asyncio.timeout(timeout):
        await client.connect()
        try:
            await client.write_gatt_char(CONTROL_UUID, bytes(frame), response=True)
        finally:
            await client.disconnect()
