"""Finding nodes on the air for the installer: who is near, which is which, whose bond is stale.

Each call makes its own short BLE connections through the configured backend. One node's
trouble (a bond it no longer holds, a link that drops) is recorded against that node and never
stops the search for another.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError, BleakGATTProtocolError

from gateway.errors import NOT_BONDED_ATT_CODES, AdvertError, BleError, NotBondedError
from gateway.installer import steps
from gateway.installer.site import Site
from gateway.installer.view import NodeView, StepError, is_address
from gateway.protocol import wire
from gateway.protocol.gatt import (
    COMPANY_ID,
    DEVICE_INFORMATION_UUID,
    FIRMWARE_REVISION_UUID,
    SERIAL_NUMBER_UUID,
    SERVICE_UUID,
    STATUS_UUID,
    TICK_UUID,
    AdvertFlags,
    NodeAdvert,
)
from gateway.sources.ble.backend import Backend

FRESH_STATUS_S = 2.0
"""How long `doors` waits for a node's fresh STATUS before showing its stored one."""


@dataclass(slots=True)
class Heard:
    """A node heard while scanning: the latest RSSI and advert, and its name if it gave one."""

    address: str
    rssi: int
    advert: NodeAdvert | None
    name: str | None

    @property
    def pairing_open(self) -> bool:
        return self.advert is not None and self.advert.pairing_open

    @property
    def bonded(self) -> bool:
        return self.advert is not None and AdvertFlags.BONDED in self.advert.flags


@dataclass(frozen=True, slots=True)
class StaleBond:
    """This gateway holds a bond the node no longer has (it was reset, or paired elsewhere)."""

    node: str
    address: str
    fix: str


@dataclass(slots=True)
class Located:
    """The node looked for, and the stale bonds met on the way (each with its exact fix)."""

    target: Heard
    stale: list[StaleBond] = field(default_factory=list)


async def listen(
    backend: Backend,
    seconds: float,
    until: Callable[[dict[str, Heard]], bool] | None = None,
) -> dict[str, Heard]:
    """Nodes advertising the doorcount service, by address; stops early once `until` holds.

    Like `gateway.sources.ble.pairing.scan`, but it also keeps the advertised name (real nodes put
    their id in the scan response) and can stop as soon as the wanted node is heard.
    """
    heard: dict[str, Heard] = {}
    enough = asyncio.Event()

    def seen(device: BLEDevice, adv: AdvertisementData) -> None:
        address = device.address.upper()
        before = heard.get(address)
        advert = before.advert if before else None
        raw = adv.manufacturer_data.get(COMPANY_ID)
        if raw is not None:
            with contextlib.suppress(AdvertError):
                advert = NodeAdvert.from_bytes(raw)
        name = adv.local_name or (before.name if before else None)
        heard[address] = Heard(address, adv.rssi, advert, name)
        if until is not None and until(heard):
            enough.set()

    scanner = BleakScanner(seen, [SERVICE_UUID], **backend.scanner_kwargs())
    await scanner.start()
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await enough.wait()
    finally:
        await scanner.stop()
    return heard


async def holds_bond(backend: Backend, site: Site, address: str) -> bool:
    """Whether this gateway holds a bond with `address` (the registry says so on the OS stack)."""
    if backend.central is not None:
        return await backend.central.is_bonded(address)
    return bool(site.entries(address))


async def stale_bonds(backend: Backend, site: Site, heard: dict[str, Heard]) -> list[StaleBond]:
    """Nodes whose advert says they hold no bond while this gateway holds one with them."""
    out = []
    for h in heard.values():
        if h.advert is None or h.bonded or not await holds_bond(backend, site, h.address):
            continue
        node = site.node_of(h.address) or h.name or h.address
        out.append(StaleBond(node, h.address, site.stale_fix(node)))
    return out


async def read_node_id(backend: Backend, address: str, timeout: float = 10.0) -> str:
    """The node id from Device Information (serial number), readable without a bond."""
    client = BleakClient(
        address, timeout=timeout, services=[DEVICE_INFORMATION_UUID], **backend.client_kwargs()
    )
    async with asyncio.timeout(timeout):
        await client.connect()
        try:
            raw = await client.read_gatt_char(SERIAL_NUMBER_UUID)
        finally:
            await client.disconnect()
    return bytes(raw).decode("ascii", errors="replace").strip()


async def read_status(
    backend: Backend, address: str, timeout: float
) -> tuple[wire.Status, str | None]:
    """The node's STATUS now (battery, beams broken, uptime); needs the bond.

    The status characteristic holds the last *published* frame, which can be a status period
    old (5 s to an hour). Enabling tick notifications makes a node say HELLO and publish a
    fresh STATUS at once (firmware_notes/protocol.md); without our RESUME it streams nothing,
    so the node keeps its unsent ticks for the gateway service. If no fresh frame comes within
    `FRESH_STATUS_S`, the stored one is returned. The firmware revision (Device Information)
    comes back beside it, None if the node does not say.
    """
    fresh: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def on_status(_char: object, data: bytearray) -> None:
        if not fresh.done():
            fresh.set_result(bytes(data))

    client = BleakClient(
        address,
        timeout=timeout,
        services=[SERVICE_UUID, DEVICE_INFORMATION_UUID],
        **backend.client_kwargs(),
    )
    firmware: str | None = None
    async with asyncio.timeout(timeout):
        await client.connect()
        try:
            with contextlib.suppress(BleakError):
                raw_fw = await client.read_gatt_char(FIRMWARE_REVISION_UUID)
                firmware = bytes(raw_fw).decode("ascii", errors="replace").strip() or None
            await client.start_notify(STATUS_UUID, on_status)
            await client.start_notify(TICK_UUID, lambda _char, _data: None)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FRESH_STATUS_S):
                    await fresh
            raw = (
                fresh.result() if fresh.done() else bytes(await client.read_gatt_char(STATUS_UUID))
            )
        finally:
            await client.disconnect()
    frame = wire.decode_frame(raw)
    if not isinstance(frame, wire.Status):
        raise wire.WireError(f"the status characteristic holds a {frame.TYPE.name} frame")
    return frame, firmware


async def locate(
    backend: Backend, site: Site, node: str, seconds: float, *, for_pairing: bool
) -> Located:
    """Find NODE (an address, or a node id) on the air; for pairing it must be in pairing mode.

    A node id is matched by a known address (registry or config), by the advertised name, or
    by reading the serial number of the unnamed nodes in pairing mode that are not known to be
    another node. A stale bond met on the way is recorded with its fix, never raised.
    """
    address = site.address_of(node)
    label = node if is_address(node) else f"{node}" + (f" ({address})" if address else "")
    press = f"press the button on {node} (its LED blinks slowly), then run this again"

    def found(heard: dict[str, Heard]) -> bool:
        if address is not None:
            h = heard.get(address)
            return h is not None and (h.pairing_open or not for_pairing)
        return any(h.name == node and (h.pairing_open or not for_pairing) for h in heard.values())

    heard = await listen(backend, seconds, found)
    stale = [s for s in await stale_bonds(backend, site, heard) if s.address != address]
    if address is not None:
        target = heard.get(address)
        if target is None:
            raise StepError(f"node {label} not heard", steps.unreachable_step())
        if for_pairing and not target.pairing_open:
            raise StepError(f"node {label} is not in pairing mode", press)
        return Located(target, stale)
    named = [h for h in heard.values() if h.name == node]
    if named:
        target = named[0]
        if for_pairing and not target.pairing_open:
            raise StepError(f"node {node} is not in pairing mode", press)
        return Located(target, stale)
    candidates = [
        h
        for h in heard.values()
        if h.name is None
        and (h.pairing_open or not for_pairing)
        and site.node_of(h.address) in (None, node)
    ]
    if for_pairing and not candidates:
        raise StepError(f"no node in pairing mode was heard (looking for {node})", press)
    stale_at = {s.address for s in stale}
    for h in sorted(candidates, key=lambda h: -h.rssi):
        try:
            h.name = await read_node_id(backend, h.address)
        except NotBondedError:
            if h.address not in stale_at:  # its advert did not tell, its answer did
                other = site.node_of(h.address) or h.address
                stale.append(StaleBond(other, h.address, site.stale_fix(other)))
            continue
        except (BleakError, BleError, TimeoutError):
            continue  # that node is not the one looked for, or cannot tell us now
        if h.name == node:
            return Located(h, stale)
    raise StepError(
        f"node {node} not heard" + (" in pairing mode" if for_pairing else ""),
        press
        if for_pairing
        else "check the node id on its label; doorcount scan lists the nodes nearby",
    )


async def probe(site: Site, nodes: list[str], seconds: float) -> dict[str, NodeView]:
    """Each node's live health: heard or not, RSSI, and its STATUS read over the bond."""
    addresses = {n: site.address_of(n) for n in nodes}
    wanted = {a for a in addresses.values() if a is not None}
    out: dict[str, NodeView] = {}
    backend = await site.open_backend()
    try:
        heard = await listen(backend, seconds, lambda h: wanted <= set(h))
        for node, address in addresses.items():
            if address is None:
                out[node] = NodeView(node, None, problem="no BLE address (not paired)")
                continue
            h = heard.get(address)
            if h is None:
                out[node] = NodeView(node, address, problem="not heard")
                continue
            if h.advert is not None and not h.bonded and await holds_bond(backend, site, address):
                out[node] = NodeView(node, address, h.rssi, problem=STALE)
                continue
            try:
                status, firmware = await read_status(
                    backend, address, site.config.ble.connect_timeout_s
                )
            except NotBondedError:
                out[node] = NodeView(node, address, h.rssi, problem=STALE)
            except BleakGATTProtocolError as exc:
                code = exc.args[0] if exc.args else None
                problem = NO_BOND if code in NOT_BONDED_ATT_CODES else str(exc)
                out[node] = NodeView(node, address, h.rssi, problem=problem)
            except (BleakError, BleError, TimeoutError, wire.WireError) as exc:
                detail = str(exc).removeprefix(f"{address}: ") or "timeout"
                out[node] = NodeView(node, address, h.rssi, problem=f"no status: {detail}")
            else:
                out[node] = NodeView(node, address, h.rssi, status, firmware=firmware)
    finally:
        await backend.close()
    return out


STALE = "no longer holds this gateway's bond (reset, or paired elsewhere)"
NO_BOND = "refuses this gateway (no bond)"


def probe_step(site: Site, view: NodeView) -> str:
    """The next step for a node `probe` found a problem with."""
    problem = view.problem or ""
    entries = [p for p in site.pairings if p.node == view.node]
    if problem == STALE:
        return site.stale_fix(view.node)
    if problem == NO_BOND or "not paired" in problem:
        return steps.not_bonded_step(view.node, entries)
    return steps.unreachable_step()
