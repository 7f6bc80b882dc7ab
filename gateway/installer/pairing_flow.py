"""Pair, unpair, identify one node: the flows behind `doorcount pair|unpair|identify`.

Each flow checks what it can before any radio work, makes its own short BLE connections, and
either returns what to tell the installer (`Outcome`) or raises `StepError` with the exact next
step. Errors name the node (its id), not only its address. A stale bond met on the way (another
node that was reset) is an `Outcome` warning with its fix; it never blocks this node.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Literal

from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError

from gateway.config import Pairing, Position
from gateway.errors import (
    NOT_BONDED_ATT_CODES,
    BleError,
    LinkLostError,
    NoAnswerError,
    NotBondedError,
    PairingError,
)
from gateway.installer import steps
from gateway.installer.scan import holds_bond, locate
from gateway.installer.site import Site
from gateway.installer.view import StepError, is_address, paired_lines
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


def pair_again(node: str, door: str, position: PositionArg, beam: int) -> str:
    """The `doorcount pair` command the installer typed, values filled in (it asks for the
    passkey: passkeys are never printed)."""
    extra = f" --beam {beam}" if beam and position != "both" else ""
    return f"doorcount pair {node} --door {door} --position {position}{extra}"


def pairing_failed(node: str, exc: PairingError, again: str) -> StepError:
    """A pairing failure in the installer's words, naming the node; `again` is the command."""
    if exc.reason == "CONFIRM_VALUE_FAILED":
        return StepError(
            f"pairing {node} failed: wrong passkey (the node and this gateway disagree)",
            f"check the 6 digits on the label inside {node}'s lid, then {again}",
        )
    if "PAIRING_NOT_SUPPORTED" in exc.reason:
        return StepError(
            f"pairing {node} failed: its pairing window closed",
            f"press the button on {node} (its LED blinks slowly), then within 2 minutes: {again}",
        )
    return StepError(
        f"pairing {node} failed ({exc.reason or exc})",
        f"press the button on {node}, check the passkey on its label, then {again}",
    )


def link_failed(node: str, exc: BleError | TimeoutError, again: str) -> StepError:
    """The link to the node dropped, went silent or gave no id during pairing: no bond."""
    if isinstance(exc, NoAnswerError):
        # It took the connection, so it is powered and was in range: only a restart wakes a
        # hung firmware, and the button then opens a fresh pairing window.
        return StepError(
            f"pairing {node} failed: {node} took the connection, then answered nothing for "
            f"{exc.seconds:g} s (its firmware hung, or it went out of range)",
            f"power-cycle {node} (unplug it or take its battery out for 10 s), stand within a "
            f"few metres of it, press its button, then {again}",
        )
    if isinstance(exc, LinkLostError):
        what = "the link dropped during pairing (it powered off, was reset or went out of range)"
    else:
        address = exc.address if isinstance(exc, BleError) else None
        what = (str(exc).removeprefix(f"{address}: ") if address else str(exc)) or "timeout"
    return StepError(
        f"pairing {node} failed: {what}",
        f"check {node} is powered (LED blip every 5 s) and within a few metres, press its "
        f"button, then {again}",
    )


def wrong_address_step(site: Site, node: str, answer: str, pair_answer: str) -> str:
    """`node`'s known address (registry or config file) answers as `answer`."""
    if site.entries(node):
        fix = f"doorcount unpair {node}, press the button on {node}, then run this again"
    else:
        fix = (
            f'correct its address in {site.path} ([[nodes]] id = "{node}") and press the '
            f"button on {node}"
        )
    return f"the node at that address is {answer}: to pair it, {pair_answer}; to pair {node}, {fix}"


async def pair(
    site: Site,
    node: str,
    door: str,
    position: PositionArg,
    beam: int,
    passkey: int,
    scan_seconds: float,
) -> Outcome:
    """Pair `node` and give it `door`'s beam(s); the registry is written only on success.

    A bond the node itself no longer holds (it was reset) is replaced: the installer pressed its
    button and gave its passkey, which is what pairing afresh needs.
    """
    backend = await site.open_backend()
    timeout = site.config.ble.connect_timeout_s
    lines: list[str] = []
    try:
        found = await locate(backend, site, node, scan_seconds, for_pairing=True)
        address = found.target.address
        name = found.target.name or site.node_of(address) or node
        label = name if not is_address(name) else node
        again = pair_again(label, door, position, beam)
        replaced = f"{label} no longer held this gateway's bond (it was reset): bond replaced"
        target = found.target
        if (
            target.advert is not None
            and not target.bonded
            and await holds_bond(backend, site, address)
        ):
            with contextlib.suppress(BleakDeviceNotFoundError):  # BlueZ knew no such device
                await pairing.unpair(backend, address)
            lines.append(replaced)
        try:
            try:
                paired = await pairing.pair(backend, address, passkey, timeout=timeout)
            except NotBondedError:  # its advert did not tell (bonded elsewhere since the reset)
                await pairing.unpair(backend, address)
                lines.append(replaced)
                paired = await pairing.pair(backend, address, passkey, timeout=timeout)
        except PairingError as exc:
            raise pairing_failed(label, exc, again) from None
        except (BleError, TimeoutError) as exc:
            raise link_failed(label, exc, again) from None
        if not is_address(node) and paired.node != node:
            await pairing.unpair(backend, paired.address)
            raise StepError(
                f"the node at {paired.address} says it is {paired.node!r}, not {node!r}",
                wrong_address_step(
                    site, node, paired.node, pair_again(paired.node, door, position, beam)
                ),
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
    told = paired_lines(paired.node, paired.address, added, ready)
    return Outcome([*told[:2], *lines, *told[2:]], warnings)


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
        except (BleakError, BleError, TimeoutError) as exc:  # the link dropped, or no answer
            detail = str(exc).removeprefix(f"{address}: ") or "no answer in time"
            raise StepError(
                f"node {name} did not take the identify command ({detail})",
                f"check {name} is powered (LED blip every 5 s) and within a few metres, then "
                f"doorcount identify {name} --seconds {seconds}",
            ) from None
    finally:
        await backend.close()
    if seconds:
        return Outcome([f"{name} ({address}): LED blinks fast for {seconds} s"])
    return Outcome([f"{name} ({address}): blinking stopped"])
