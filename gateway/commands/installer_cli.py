"""`doorcount scan | pair | unpair | identify | doors | walktest`: the installer's commands.

Each one reads the gateway config (`--config`, default $DOORCOUNT_CONFIG or
/etc/doorcount/doorcount.toml), opens the configured BLE backend for its own short
connections, and exits 0, or 1 with the next step on stderr. What they change lives in the
pairing registry (`<state_dir>/pairings.json`) and the BLE bonds; the TOML file is never
written. With the bumble backend the gateway's bonds are kept in `<state_dir>/ble-keys.json`.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from gateway.config import GatewayConfig, Pairing
    from gateway.installer.view import NodeView
    from gateway.protocol import wire
    from gateway.protocol.gatt import NodeAdvert
    from gateway.protocol.trace import DoorSpec
    from gateway.sources.ble.backend import Backend

DEFAULT_CONFIG = "/etc/doorcount/doorcount.toml"
KEYSTORE_NAME = "ble-keys.json"
"""The bumble backend's bond store, under `state_dir` (the OS backend uses BlueZ's)."""
FRESH_STATUS_S = 2.0
"""How long `doors` waits for a node's fresh STATUS before showing its stored one."""
QUIET_LOGGERS = ("bumble",)
"""Third-party loggers held at INFO or above: bumble's debug output names passkeys and keys."""


def register(subparsers: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        "-c",
        type=Path,
        default=Path(os.environ.get("DOORCOUNT_CONFIG", DEFAULT_CONFIG)),
        help="gateway config (default: $DOORCOUNT_CONFIG or %(default)s)",
    )

    p = subparsers.add_parser(
        "scan", parents=[common], help="list the nodes nearby: RSSI, pairing mode, paired or not"
    )
    p.add_argument("--seconds", type=float, default=5.0, help="how long to listen (default 5)")
    p.set_defaults(handler=lambda args: run(scan(args)))

    p = subparsers.add_parser(
        "pair",
        parents=[common],
        help="pair a node (press its button first) and assign it to a door's beam",
    )
    p.add_argument("node", metavar="NODE", help="node id (on its label) or BLE address")
    p.add_argument("--door", required=True, help="door name, as in the config's [[doors]]")
    p.add_argument(
        "--position",
        required=True,
        choices=["outer", "inner", "both"],
        help="which beam of the door; 'both' for a dual-beam node (beam 0 outer, 1 inner)",
    )
    p.add_argument("--beam", type=int, default=0, choices=range(8), help="node beam channel")
    p.add_argument("--passkey", help="the 6 digits on the node's label (asked for when left out)")
    p.add_argument("--scan-seconds", type=float, default=3.0, help="how long to look for the node")
    p.set_defaults(handler=lambda args: run(pair(args)))

    p = subparsers.add_parser(
        "unpair", parents=[common], help="forget a node: its bond and its registry entry"
    )
    p.add_argument("node", metavar="NODE", help="node id or BLE address")
    p.set_defaults(handler=lambda args: run(unpair(args)))

    p = subparsers.add_parser(
        "identify", parents=[common], help="blink a node's LED so you can find it"
    )
    p.add_argument("node", metavar="NODE", help="node id or BLE address")
    p.add_argument("--seconds", type=int, default=10, choices=range(256), metavar="0..255")
    p.add_argument("--scan-seconds", type=float, default=3.0, help="how long to look for the node")
    p.set_defaults(handler=lambda args: run(identify(args)))

    p = subparsers.add_parser(
        "doors", parents=[common], help="show each door's beams and its nodes' live health"
    )
    p.add_argument("--offline", action="store_true", help="configuration only, no Bluetooth")
    p.add_argument("--seconds", type=float, default=5.0, help="how long to look for nodes")
    p.set_defaults(handler=lambda args: run(doors(args)))

    p = subparsers.add_parser(
        "walktest",
        parents=[common],
        help="walk through a door and see each crossing live; finds swapped beams",
    )
    p.add_argument("--door", required=True, help="door name")
    p.add_argument("--walks", type=int, default=3, help="walks to make (default 3)")
    p.add_argument(
        "--direction", choices=["in", "out"], default="in", help="the way you walk (default in)"
    )
    p.add_argument(
        "--timeout", type=float, default=180.0, help="give up after this long (s, default 180)"
    )
    p.add_argument(
        "--connect-timeout", type=float, default=30.0, help="wait this long for the nodes (s)"
    )
    p.add_argument("--yes", "-y", action="store_true", help="apply a swap fix without asking")
    p.set_defaults(handler=lambda args: run(walktest(args)))


# Plumbing ------------------------------------------------------------------------------------


def run(work: Coroutine[Any, Any, int]) -> int:
    """Run one command; any failure ends as exit code 1 with its next step on stderr."""
    import asyncio
    import logging

    from bleak.exc import BleakError

    from gateway.errors import DoorcountError
    from gateway.installer.view import fail, next_step_for

    for name in QUIET_LOGGERS:
        log = logging.getLogger(name)
        if log.getEffectiveLevel() < logging.INFO:
            log.setLevel(logging.INFO)
    try:
        return asyncio.run(work)
    except (DoorcountError, BleakError, TimeoutError, OSError) as exc:
        message = str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError) and not str(exc):
            message = "the node did not answer in time"
        return fail(message, getattr(exc, "next_step", None) or next_step_for(exc))


class Site:
    """The config, the pairing registry and where this gateway keeps its bonds."""

    def __init__(self, path: Path) -> None:
        from gateway.config import load_config, load_pairings

        self.path = path
        self.config: GatewayConfig = load_config(path)
        self.pairings: list[Pairing] = load_pairings(self.config.registry_path)

    @property
    def keystore(self) -> Path:
        return self.config.state_dir / KEYSTORE_NAME

    async def open_backend(self) -> Backend:
        from gateway.sources.ble.backend import open_backend

        # The bumble central writes its identity next to the key store before creating it.
        self.keystore.parent.mkdir(parents=True, exist_ok=True)
        return await open_backend(self.config.ble.backend, keystore=self.keystore)

    def save(self, pairings: list[Pairing], *, check: bool = True) -> None:
        """Write the registry; `check` first refuses one the config could not merge."""
        from gateway.config import save_pairings

        if check:
            self.config.door_specs(pairings)
        save_pairings(self.config.registry_path, pairings)
        self.pairings = pairings

    def entries(self, node: str) -> list[Pairing]:
        """Registry entries for a node id or address."""
        key = node.upper()
        return [p for p in self.pairings if p.node == node or p.address.upper() == key]

    def address_of(self, node: str) -> str | None:
        from gateway.installer.view import is_address

        if is_address(node):
            return node.upper()
        for p in self.pairings:
            if p.node == node:
                return p.address.upper()
        for n in self.config.nodes:
            if n.id == node and n.address:
                return n.address.upper()
        return None

    def node_of(self, address: str) -> str | None:
        key = address.upper()
        for p in self.pairings:
            if p.address.upper() == key:
                return p.node
        for n in self.config.nodes:
            if n.address and n.address.upper() == key:
                return n.id
        return None

    def door_spec(self, name: str) -> DoorSpec:
        from gateway.installer.view import StepError

        if name not in {d.name for d in self.config.doors}:
            raise StepError(
                f"door {name!r} is not in the config",
                f'add [[doors]] name = "{name}" to {self.path}',
            )
        for spec in self.config.door_specs(self.pairings):
            if spec.door == name:
                return spec
        positions = {p.position for p in self.pairings if p.door == name}
        door = next(d for d in self.config.doors if d.name == name)
        missing = [
            pos
            for pos, beam in (("outer", door.outer), ("inner", door.inner))
            if beam is None and pos not in positions
        ] or ["outer"]
        raise StepError(
            f"door {name!r} has no {' or '.join(missing)} beam yet",
            f"pair it: doorcount pair NODE --door {name} --position {missing[0]}",
        )


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
        from gateway.protocol.gatt import AdvertFlags

        return self.advert is not None and AdvertFlags.BONDED in self.advert.flags


async def listen(
    backend: Backend,
    seconds: float,
    until: Callable[[dict[str, Heard]], bool] | None = None,
) -> dict[str, Heard]:
    """Nodes advertising the doorcount service, by address; stops early once `until` holds.

    Like `gateway.sources.ble.pairing.scan`, but it also keeps the advertised name (real nodes put
    their id in the scan response) and can stop as soon as the wanted node is heard.
    """
    import asyncio
    import contextlib

    from bleak import BleakScanner
    from bleak.backends.device import BLEDevice
    from bleak.backends.scanner import AdvertisementData

    from gateway.errors import AdvertError
    from gateway.protocol.gatt import COMPANY_ID, SERVICE_UUID, NodeAdvert

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


async def read_node_id(backend: Backend, address: str, timeout: float = 10.0) -> str:
    """The node id from Device Information (serial number), readable without a bond."""
    import asyncio

    from bleak import BleakClient

    from gateway.protocol.gatt import DEVICE_INFORMATION_UUID, SERIAL_NUMBER_UUID

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


async def read_status(backend: Backend, address: str, timeout: float) -> wire.Status:
    """The node's STATUS now (battery, beams broken, uptime); needs the bond.

    The status characteristic holds the last *published* frame, which can be a status period
    old (5 s to an hour). Enabling tick notifications makes a node say HELLO and publish a
    fresh STATUS at once (firmware_notes/protocol.md); without our RESUME it streams nothing,
    so the node keeps its unsent ticks for the gateway service. If no fresh frame comes within
    `FRESH_STATUS_S`, the stored one is returned.
    """
    import asyncio
    import contextlib

    from bleak import BleakClient

    from gateway.protocol import wire
    from gateway.protocol.gatt import SERVICE_UUID, STATUS_UUID, TICK_UUID

    fresh: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def on_status(_char: object, data: bytearray) -> None:
        if not fresh.done():
            fresh.set_result(bytes(data))

    client = BleakClient(
        address, timeout=timeout, services=[SERVICE_UUID], **backend.client_kwargs()
    )
    async with asyncio.timeout(timeout):
        await client.connect()
        try:
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
    return frame


async def locate(
    backend: Backend, site: Site, node: str, seconds: float, *, for_pairing: bool
) -> Heard:
    """Find NODE (an address, or a node id) on the air; for pairing it must be in pairing mode.

    A node id is matched by a known address (registry or config), by the advertised name, or
    by reading the serial number of the unnamed nodes that are in pairing mode.
    """
    from gateway.installer.view import StepError, is_address

    address = site.address_of(node)
    label = node if is_address(node) else f"{node}" + (f" ({address})" if address else "")
    press = f"press the button on {node} (its LED blinks slowly), then run this again"

    def found(heard: dict[str, Heard]) -> bool:
        if address is not None:
            h = heard.get(address)
            return h is not None and (h.pairing_open or not for_pairing)
        return any(h.name == node and (h.pairing_open or not for_pairing) for h in heard.values())

    heard = await listen(backend, seconds, found)
    if address is not None:
        target = heard.get(address)
        if target is None:
            raise StepError(
                f"node {label} not heard",
                "check it is powered (LED blip every 5 s) and within a few metres",
            )
        if for_pairing and not target.pairing_open:
            raise StepError(f"node {label} is not in pairing mode", press)
        return target
    named = [h for h in heard.values() if h.name == node]
    if named:
        target = named[0]
        if for_pairing and not target.pairing_open:
            raise StepError(f"node {node} is not in pairing mode", press)
        return target
    candidates = [
        h for h in heard.values() if h.name is None and (h.pairing_open or not for_pairing)
    ]
    if for_pairing and not candidates:
        raise StepError(f"no node in pairing mode was heard (looking for {node})", press)
    for h in sorted(candidates, key=lambda h: -h.rssi):
        h.name = await read_node_id(backend, h.address)
        if h.name == node:
            return h
    raise StepError(
        f"node {node} not heard" + (" in pairing mode" if for_pairing else ""),
        press
        if for_pairing
        else "check the node id on its label; doorcount scan lists the nodes nearby",
    )


def say(*lines: str) -> None:
    for line in lines:
        print(line, flush=True)


# Commands ------------------------------------------------------------------------------------


async def scan(args: argparse.Namespace) -> int:
    from gateway.installer.view import ScanRow, StepError, scan_lines

    site = Site(args.config)
    backend = await site.open_backend()
    try:
        heard = await listen(backend, args.seconds)
        rows = []
        for h in sorted(heard.values(), key=lambda h: -h.rssi):
            paired = site.entries(h.address)
            node = paired[0].node if paired else (h.name or site.node_of(h.address))
            if node is None and h.pairing_open:
                node = await read_node_id(backend, h.address)
            ours = backend.central is not None and await backend.central.is_bonded(h.address)
            rows.append(
                ScanRow(
                    h.address,
                    h.rssi,
                    node,
                    h.pairing_open,
                    paired,
                    bonded_elsewhere=h.bonded and not ours,
                    bonded_here=ours,
                )
            )
    finally:
        await backend.close()
    if not rows:
        raise StepError(
            "no doorcount node heard",
            "check the nodes are powered (LED blip every 5 s) and the gateway's Bluetooth "
            f"({site.config.ble.backend}) works; listen longer with --seconds 15",
        )
    say(*scan_lines(rows))
    return 0


async def pair(args: argparse.Namespace) -> int:
    import getpass
    import time

    from gateway.config import Pairing
    from gateway.installer.view import StepError, is_address, paired_lines
    from gateway.protocol.gatt import parse_passkey
    from gateway.sources.ble import pairing

    site = Site(args.config)
    site.config.door_specs(site.pairings)  # a registry the config cannot merge: say so first
    door = args.door
    if door not in {d.name for d in site.config.doors}:
        raise StepError(
            f"door {door!r} is not in the config", f'add [[doors]] name = "{door}" to {site.path}'
        )
    if args.position == "both":
        beams = [("outer", 0), ("inner", 1)]
    else:
        beams = [(args.position, args.beam)]
    for position, _ in beams:
        for p in site.pairings:
            same = p.node == args.node or p.address.upper() == args.node.upper()
            if p.door == door and p.position == position and not same:
                raise StepError(
                    f"the {position} beam of door {door} is already node {p.node}",
                    f"unpair it first: doorcount unpair {p.node}",
                )
    if args.passkey is None and not _has_terminal():  # a script, a pipe, systemd
        raise StepError(
            "no passkey given and no terminal to ask for it on",
            "pass the 6 digits on the node's label: --passkey 042913",
        )
    text = args.passkey if args.passkey is not None else getpass.getpass("passkey on the label: ")
    passkey = parse_passkey(text)
    backend = await site.open_backend()
    try:
        target = await locate(backend, site, args.node, args.scan_seconds, for_pairing=True)
        paired = await pairing.pair(backend, target.address, passkey)
        if not is_address(args.node) and paired.node != args.node:
            await pairing.unpair(backend, paired.address)
            raise StepError(
                f"the node at {paired.address} says it is {paired.node!r}, not {args.node!r}",
                "check the node id on its label and press the button on that node",
            )
    finally:
        await backend.close()
    now = time.time()
    added = [
        Pairing(
            node=paired.node,
            address=paired.address,
            door=door,
            position=position,
            beam=beam,
            paired_at=now,
        )
        for position, beam in beams
    ]
    kept = [p for p in site.pairings if p.node != paired.node and p.address != paired.address]
    site.save(kept + added)
    ready = any(s.door == door for s in site.config.door_specs(site.pairings))
    say(*paired_lines(paired.node, paired.address, added, ready))
    return 0


async def unpair(args: argparse.Namespace) -> int:
    from bleak.exc import BleakError

    from gateway.installer.view import StepError
    from gateway.sources.ble import pairing

    site = Site(args.config)
    entries = site.entries(args.node)
    address = entries[0].address if entries else site.address_of(args.node)
    not_paired = StepError(
        f"node {args.node} is not paired with this gateway",
        "doorcount scan lists the nodes nearby and whether they are paired",
    )
    if address is None:
        raise not_paired
    backend = await site.open_backend()
    try:
        bonded = None if backend.central is None else await backend.central.is_bonded(address)
        if not entries and bonded is False:
            raise not_paired
        bond = "bond deleted"
        try:
            await pairing.unpair(backend, address)
        except BleakError as exc:  # the OS stack knows no such device
            if not entries:
                raise StepError(
                    f"no bond to forget for {args.node}: {exc}", not_paired.next_step
                ) from exc
            bond = "no bond left to delete"
    finally:
        await backend.close()
    if entries:
        # Removing entries never breaks the merge; a registry that is already broken (a door
        # gone from the config) is what `unpair` is there to fix.
        site.save([p for p in site.pairings if p not in entries], check=False)
    node = entries[0].node if entries else args.node
    freed = ", ".join(f"{p.door} {p.position}" for p in entries)
    say(
        f"unpaired {node} ({address}): {bond}, "
        + (f"{freed} freed" if freed else "it had no door"),
        "the node keeps its side until paired again or reset (hold its button 10 s)",
    )
    return 0


async def identify(args: argparse.Namespace) -> int:
    from bleak.exc import BleakGATTProtocolError

    from gateway.errors import NOT_BONDED_ATT_CODES
    from gateway.installer.view import StepError
    from gateway.sources.ble import pairing

    site = Site(args.config)
    backend = await site.open_backend()
    try:
        target = await locate(backend, site, args.node, args.scan_seconds, for_pairing=False)
        try:
            await pairing.identify(
                backend, target.address, args.seconds, timeout=site.config.ble.connect_timeout_s
            )
        except BleakGATTProtocolError as exc:
            if exc.args and exc.args[0] in NOT_BONDED_ATT_CODES:
                raise StepError(
                    f"node {args.node} refuses this gateway: there is no bond",
                    f"pair it first: press its button, then doorcount pair {args.node} "
                    "--door NAME --position outer|inner",
                ) from exc
            raise
    finally:
        await backend.close()
    if args.seconds:
        say(f"{args.node} ({target.address}): LED blinks fast for {args.seconds} s")
    else:
        say(f"{args.node} ({target.address}): blinking stopped")
    return 0


async def doors(args: argparse.Namespace) -> int:
    from gateway.installer.view import BeamView, door_lines, fail, node_line

    site = Site(args.config)
    site.config.door_specs(site.pairings)  # a registry naming unknown doors fails here
    problems: list[tuple[str, str]] = []
    layout: list[tuple[str, list[BeamView]]] = []
    for door in site.config.doors:
        views = []
        for position, beam in (("outer", door.outer), ("inner", door.inner)):
            entry = next(
                (p for p in site.pairings if p.door == door.name and p.position == position), None
            )
            if entry is not None:
                views.append(BeamView(entry.position, entry.node, entry.beam, "pairing"))
            elif beam is not None:
                views.append(BeamView(position, beam.node, beam.beam, "config"))  # type: ignore[arg-type]
            else:
                views.append(BeamView(position, None))  # type: ignore[arg-type]
                problems.append(
                    (
                        f"door {door.name} has no {position} beam",
                        f"doorcount pair NODE --door {door.name} --position {position}",
                    )
                )
        layout.append((door.name, views))
    nodes = sorted({v.node for _, views in layout for v in views if v.node is not None})
    health: dict[str, NodeView] = {}
    if not args.offline and nodes:
        health = await probe(site, nodes, args.seconds)
        for view in health.values():
            if view.problem is not None:
                problems.append((f"node {view.node}: {view.problem}", probe_step(view)))
            elif view.status is not None and view.status.beams_broken:
                problems.append(
                    (
                        f"node {view.node}: a beam is broken right now",
                        "if nobody is in the door, check that beam's alignment and what blocks it",
                    )
                )
    say(f"site {site.config.site}: {len(layout)} door{'s' if len(layout) != 1 else ''}")
    for name, views in layout:
        say(*door_lines(name, views))
        for node in dict.fromkeys(v.node for v in views if v.node is not None):
            if node in health:
                say(node_line(health[node]))
    if not layout:
        problems.append(("the config lists no doors", f"add [[doors]] to {site.path}"))
    for message, step in problems:
        fail(message, step)
    return 1 if problems else 0


async def probe(site: Site, nodes: list[str], seconds: float) -> dict[str, NodeView]:
    """Each node's live health: heard or not, RSSI, and its STATUS read over the bond."""
    from bleak.exc import BleakError, BleakGATTProtocolError

    from gateway.errors import NOT_BONDED_ATT_CODES, BleError
    from gateway.installer.view import NodeView
    from gateway.protocol import wire

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
            try:
                status = await read_status(backend, address, site.config.ble.connect_timeout_s)
            except BleakGATTProtocolError as exc:
                code = exc.args[0] if exc.args else None
                problem = (
                    "refuses this gateway (no bond)" if code in NOT_BONDED_ATT_CODES else str(exc)
                )
                out[node] = NodeView(node, address, h.rssi, problem=problem)
            except (BleakError, BleError, TimeoutError, wire.WireError) as exc:
                out[node] = NodeView(
                    node, address, h.rssi, problem=f"no status: {exc or 'timeout'}"
                )
            else:
                out[node] = NodeView(node, address, h.rssi, status)
    finally:
        await backend.close()
    return out


def probe_step(view: NodeView) -> str:
    from gateway.installer.view import SERVICE_UNIT

    problem = view.problem or ""
    if "no bond" in problem or "not paired" in problem:
        return (
            f"pair it again: press its button, then doorcount pair {view.node} --door NAME "
            "--position outer|inner"
        )
    return (
        "check it is powered (LED blip every 5 s) and within range; a node connected to the "
        f"running gateway service does not advertise (sudo systemctl stop {SERVICE_UNIT})"
    )


async def walktest(args: argparse.Namespace) -> int:
    import asyncio
    import contextlib
    import signal
    import time

    from gateway.core.events import Crossing
    from gateway.errors import ConfigError
    from gateway.installer.view import (
        StepError,
        fail,
        finding_lines,
        observation_line,
        verdict_lines,
        walk_intro,
    )
    from gateway.installer.walktest import Observation, WalkTest, swap_door
    from gateway.protocol.trace import Tick
    from gateway.sources.ble.ingest import Ingest, IngestConfig, PairedNode, Report

    site = Site(args.config)
    if args.walks < 1:
        raise StepError(f"--walks must be at least 1, got {args.walks}", "use e.g. --walks 3")
    spec = site.door_spec(args.door)
    nodes = []
    for node in dict.fromkeys((spec.outer.node, spec.inner.node)):
        address = site.address_of(node)
        if address is None:
            raise StepError(
                f"node {node} of door {args.door} has no BLE address",
                f"pair it: doorcount pair {node} --door {args.door} --position outer|inner",
            )
        nodes.append(PairedNode(node, address))

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
        loop.add_signal_handler(signal.SIGINT, stop.set)  # main thread only
    test: WalkTest | None = None
    counted = 0

    def show(observations: list[Observation]) -> None:
        nonlocal counted
        for obs in observations:
            if isinstance(obs, Crossing):
                counted += 1
            say(observation_line(obs, counted, args.direction))

    def on_ticks(ticks: list[Tick]) -> None:
        if test is not None:
            for tick in ticks:
                show(test.feed(tick))

    told: set[tuple[str, str]] = set()
    ending = False

    def on_report(report: Report) -> None:
        # Each problem once per node; retries, and the links we close ourselves, are noise.
        if ending or report.kind in ("connected", "malformed", "connect_failed"):
            return
        if (report.node, report.kind) not in told:
            told.add((report.node, report.kind))
            detail = f": {report.detail}" if report.detail else ""
            say(f"    {report.node} {report.kind.replace('_', ' ')}{detail}")

    ble = site.config.ble
    backend = await site.open_backend()
    try:
        ingest = Ingest(
            backend,
            nodes,
            on_ticks,
            config=IngestConfig(
                connect_timeout=ble.connect_timeout_s,
                silence_s=ble.silent_after_s,
                backoff_min=0.2,
                backoff_max=2.0,
                scan_timeout=5.0,
            ),
            on_report=on_report,
        )
        await ingest.start()
        try:
            try:
                async with asyncio.timeout(args.connect_timeout):
                    while ingest.connected() < len(nodes):
                        if stop.is_set():
                            raise KeyboardInterrupt
                        await asyncio.sleep(0.05)
            except TimeoutError:
                missing = [h for h in ingest.health() if not h.connected]
                raise StepError(
                    "not connected to "
                    + ", ".join(f"{h.node} ({h.last_error or 'not heard'})" for h in missing),
                    next_for_links([h.last_error or "" for h in missing]),
                ) from None
            say(
                f"connected to {', '.join(n.node for n in nodes)}",
                *walk_intro(args.door, args.direction, args.walks),
            )
            test = WalkTest(
                spec,
                time.time(),
                expected=args.direction,
                walks=args.walks,
                config=site.config.engine_config(),
            )
            deadline = loop.time() + args.timeout
            while not test.done and not stop.is_set() and loop.time() < deadline:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.1):
                        await stop.wait()
                show(test.advance(time.time()))
            if not test.done:
                show(test.finish())
        finally:
            ending = True
            await ingest.stop()
    finally:
        await backend.close()
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            loop.remove_signal_handler(signal.SIGINT)

    verdict = test.verdict()
    say(*verdict_lines(verdict))
    if verdict.ok:
        return 0
    for line in finding_lines(verdict.findings):
        print(line, file=sys.stderr, flush=True)
    if verdict.swapped:
        try:
            fixed = swap_door(site.pairings, args.door)
        except ConfigError as exc:  # its beams come from the TOML file, which is never written
            return fail(str(exc), f"edit {site.path}: swap outer and inner of door {args.door}")
        if args.yes or confirm(f"swap outer and inner of door {args.door} in the registry?"):
            site.save(fixed)
            say(
                f"fixed: door {args.door} outer and inner swapped in {site.config.registry_path}",
                f"next: doorcount walktest --door {args.door} (then restart the gateway service)",
            )
            return 0
        return fail(
            "outer and inner left as they are",
            f"swap them with doorcount walktest --door {args.door} --yes, or swap the heads",
        )
    return 1


def next_for_links(errors: list[str]) -> str:
    from gateway.installer.view import SERVICE_UNIT

    if any("not_bonded" in e for e in errors):
        return "pair that node again: press its button, then doorcount pair NODE --door ..."
    if any("wrong_node" in e for e in errors):
        return "the address answers with another node id: unpair it and pair the right node"
    return (
        "check the nodes are powered and within range; if the gateway service is running it "
        f"holds the links: sudo systemctl stop {SERVICE_UNIT}"
    )


def _has_terminal() -> bool:
    """Whether getpass has a terminal to ask on (it reads /dev/tty, else stdin)."""
    import os
    import sys

    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError:
        return sys.stdin.isatty()
    return True


def confirm(question: str) -> bool:
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")
