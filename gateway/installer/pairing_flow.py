"""Pair, unpair, identify one node: the flows behind `doorcount pair|unpair|identify`.

Each flow checks what it can before any radio work, makes its own short BLE connections, and
either returns what to tell the installer (`Outcome`) or raises `StepError` with the exact next
step. Errors name the node (its id), not only its address. A stale bond met on the way (another
node that was reset) is an `Outcome` warning with its fix; it never blocks this node.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

from bleak.exc import BleakDeviceNotFoundError, BleakGATTProtocolError

from gateway.config import Pairing, Position
from gateway.errors import NOT_BONDED_ATT_CODES, NotBondedError, PairingError
from gateway.installer import steps
from gateway.installer.scan import locate
from gateway.installer.site import Site
from gateway.installer.view import StepError, is_address, next_step_for, paired_lines
from gateway.sources.ble import pairing

PositionArg = Literal["outer", "inner", "both"]


@dataclass(slots=True)
class Outcome:
    """What a flow has to say: lines for stdout, and (problem, next step) warnings for stderr."""

    lines: list[str] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)


def beams_for(position: PositionArg, beam: int) -> list[tuple[Position, int]]:
    if position == "both":
        return [("outer", 0), ("inner", 1)]
    return [(position, beam)]


def check_beams_free(site: Site, node: str, door: str, position: PositionArg, beam: int) -> None:
    """Refuse a beam another node already is, pointing at the free beam when there is one."""
    taken: dict[str, str] = {}
    for p in site.pairings:
        same = p.node == node or p.address.upper() == node.upper()
        if p.door == door and not same:
            taken[p.position] = p.node
    config_door = next(d for d in site.config.doors if d.name == door)
    for pos, ref in (("outer", config_door.outer), ("inner", config_door.inner)):
        if ref is not None and ref.node != node:
            taken.setdefault(pos, ref.node)
    for pos, _ in beams_for(position, beam):
        holder = taken.get(pos)
        if holder is not None:
            free = [p for p in ("outer", "inner") if p not in taken] if position != "both" else []
            raise StepError(
                f"the {pos} beam of door {door} is already node {holder}",
                steps.beam_taken_step(node, door, pos, holder, free, beam),
            )


def pairing_failed(node: str, exc: PairingError) -> StepError:
    """A pairing failure in the installer's words, naming the node."""
    if exc.reason == "CONFIRM_VALUE_FAILED":
        message = f"pairing {node} failed: wrong passkey (the node and this gateway disagree)"
    elif "PAIRING_NOT_SUPPORTED" in exc.reason:
        message = f"pairing {node} failed: its pairing window closed"
    else:
        message = f"pairing {node} failed ({exc.reason or exc})"
    return StepError(message, next_step_for(exc))


async def pair(
    site: Site,
    node: str,
    door: str,
    position: PositionArg,
    beam: int,
    passkey: int,
    scan_seconds: float,
) -> Outcome:
    """Pair `node` and give it `door`'s beam(s); the registry is written only on success."""
    backend = await site.open_backend()
    try:
        found = await locate(backend, site, node, scan_seconds, for_pairing=True)
        name = found.target.name or site.node_of(found.target.address) or node
        try:
            paired = await pairing.pair(backend, found.target.address, passkey)
        except PairingError as exc:
            raise pairing_failed(name if not is_address(name) else node, exc) from None
        if not is_address(node) and paired.node != node:
            await pairing.unpair(backend, paired.address)
            raise StepError(
                f"the node at {paired.address} says it is {paired.node!r}, not {node!r}",
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
            position=pos,
            beam=b,
            paired_at=now,
        )
        for pos, b in beams_for(position, beam)
    ]
    kept = [p for p in site.pairings if p.node != paired.node and p.address != paired.address]
    site.save(kept + added)
    ready = any(s.door == door for s in site.config.door_specs(site.pairings))
    warnings = [(f"node {s.node} no longer holds this gateway's bond", s.fix) for s in found.stale]
    return Outcome(paired_lines(paired.node, paired.address, added, ready), warnings)


async def unpair(site: Site, node: str) -> Outcome:
    entries = site.entries(node)
    address = entries[0].address if entries else site.address_of(node)
    if address is None:
        raise StepError(
            f"node {node} is not paired with this gateway",
            "check the node id on its label; doorcount scan lists the nodes nearby and whether "
            "they are paired",
        )
    not_paired = StepError(
        f"node {node}{'' if is_address(node) else f' ({address})'} is not paired with this "
        "gateway: no bond, no door",
        "nothing to unpair; to pair it: " + steps.not_bonded_step(node, []),
    )
    backend = await site.open_backend()
    try:
        bonded = None if backend.central is None else await backend.central.is_bonded(address)
        if not entries and bonded is False:
            raise not_paired
        bond = "bond deleted"
        try:
            await pairing.unpair(backend, address)
        except BleakDeviceNotFoundError as exc:  # the OS stack (BlueZ) knows no such device
            if not entries:
                raise not_paired from exc
            bond = "no bond left to delete"
    finally:
        await backend.close()
    if entries:
        # Removing entries never breaks the merge; a registry that is already broken (a door
        # gone from the config) is what `unpair` is there to fix.
        site.save([p for p in site.pairings if p not in entries], check=False)
    name = entries[0].node if entries else node
    freed = ", ".join(f"{p.door} {p.position}" for p in entries)
    return Outcome(
        [
            f"unpaired {name} ({address}): {bond}, "
            + (f"{freed} freed" if freed else "it had no door"),
            "the node keeps its side until paired again or reset (hold its button 10 s)",
        ]
    )


async def identify(site: Site, node: str, seconds: int, scan_seconds: float) -> Outcome:
    entries = [p for p in site.pairings if p.node == node or p.address.upper() == node.upper()]
    name = entries[0].node if entries else node
    backend = await site.open_backend()
    try:
        found = await locate(backend, site, node, scan_seconds, for_pairing=False)
        address = found.target.address
        try:
            await pairing.identify(
                backend, address, seconds, timeout=site.config.ble.connect_timeout_s
            )
        except NotBondedError:
            raise StepError(
                f"node {name} no longer holds this gateway's bond", site.stale_fix(name)
            ) from None
        except BleakGATTProtocolError as exc:
            if exc.args and exc.args[0] in NOT_BONDED_ATT_CODES:
                raise StepError(
                    f"node {name} refuses this gateway: there is no bond",
                    "pair it first: " + steps.not_bonded_step(name, entries),
                ) from exc
            raise
    finally:
        await backend.close()
    if seconds:
        return Outcome([f"{name} ({address}): LED blinks fast for {seconds} s"])
    return Outcome([f"{name} ({address}): blinking stopped"])
