"""Serve a doorcount trace over BLE: one simulated node (bumble peripheral) per trace node.

Each node is a `SimNode`, the firmware core behind a peripheral. It is fed its trace ticks'
edges with their original boot and node clock, at the time the edge happened (node clock
mapped to trace time through the lower envelope of rx - node time, per boot), optionally
accelerated by `speed`; a change of boot id in the trace reboots the node there (into the
trace's boot id, with the beams the boot's first edges show broken). The glitch filter is off:
trace ticks already passed the firmware's. Random link losses (`disconnect_every`) can be
injected; the gateway assigns its own receive times.

Numbering is the core's. Trace ticks are numbered by the same core, so the nodes reproduce the
trace's (boot, seq) exactly -- unless the trace lost ticks after numbering (a delivery loss,
a gap in its sequence numbers): the node was never told those edges, numbers on without a gap
and drops an edge that repeats its beam's level, as the firmware would. `served()` is therefore
the set of (node, boot, seq) the firmware cores made, and a gateway that loses and doubles
nothing receives exactly it; `renumbered()` says whether it differs from the trace's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bumble.link import LocalLink

from gateway.protocol.trace import Record, Tick, TraceHeader
from gateway.protocol.wire import U32
from sensor_sim.ble.node import SimNode

logger = logging.getLogger(__name__)

DEFAULT_PASSKEY = 123456


@dataclass(frozen=True, slots=True)
class Planned:
    """One tick to emit at trace time `t`."""

    t: float
    tick: Tick


def plan(records: Iterable[Record]) -> dict[str, list[Planned]]:
    """Per node, its unique ticks in sequence order with the trace time each edge happened."""
    seen: set[tuple[str, int, int]] = set()
    per_boot: dict[tuple[str, int], list[Tick]] = {}
    order: dict[str, list[int]] = {}
    for record in records:
        if not isinstance(record, Tick):
            continue
        key = (record.node, record.boot, record.seq)
        if key in seen:
            continue  # the trace's duplicates are link artefacts, not new edges
        seen.add(key)
        if not 1 <= record.boot <= U32:
            raise ValueError(f"node {record.node}: boot {record.boot} does not fit the wire")
        boots = order.setdefault(record.node, [])
        if record.boot not in boots:
            boots.append(record.boot)
        per_boot.setdefault((record.node, record.boot), []).append(record)
    out: dict[str, list[Planned]] = {}
    for node, boots in order.items():
        planned: list[Planned] = []
        for boot in boots:
            ticks = sorted(per_boot[(node, boot)], key=lambda t: t.seq)
            offset = min(t.rx - t.node_us * 1e-6 for t in ticks)
            last = planned[-1].t if planned else -float("inf")
            for tick in ticks:
                last = max(last, tick.node_us * 1e-6 + offset)
                planned.append(Planned(last, tick))
        out[node] = planned
    return out


def with_reboot(records: Sequence[Record], node: str, at: float, boot: int) -> list[Record]:
    """The trace as if `node` had rebooted at trace time `at` (by rx) into boot `boot`.

    Its later ticks get the new boot id, sequence numbers from 0 and a clock restarting near 0,
    as a real reboot would give them. For tests of the reboot path on any generated trace.
    """
    out: list[Record] = []
    shift: tuple[int, int] | None = None
    for record in records:
        if isinstance(record, Tick) and record.node == node and record.rx >= at:
            if shift is None:
                shift = (record.seq, record.node_us - 2_000_000)
            seq, node_us = record.seq - shift[0], record.node_us - shift[1]
            out.append(replace(record, boot=boot, seq=seq, node_us=node_us))
        else:
            out.append(record)
    return out


def broken_at_boot(ticks: Iterable[Tick]) -> tuple[int, ...]:
    """Beams already broken when a boot began: their first tick (in seq order) clears them."""
    first: dict[int, bool] = {}
    for tick in sorted(ticks, key=lambda t: t.seq):
        first.setdefault(tick.beam, tick.broken)
    return tuple(sorted(beam for beam, broken in first.items() if not broken))


def node_beams(header: TraceHeader) -> dict[str, int]:
    """Per node, the bit mask of the beam channels the doors use."""
    masks: dict[str, int] = {}
    for door in header.doors:
        for ref in (door.outer, door.inner):
            masks[ref.node] = masks.get(ref.node, 0) | 1 << ref.beam
    return masks


class TraceServer:
    """The fleet of simulated nodes serving one trace.

    `radio` is an in-process link (tests) or a bumble transport spec for a real controller
    (one controller then serves one node: pass `only=[node]`). `passkeys` maps node ids to their
    label passkeys (default: the same for all). Bonds persist in `keystore_dir` if given.
    """

    def __init__(
        self,
        header: TraceHeader,
        records: Sequence[Record],
        radio: LocalLink | str,
        *,
        speed: float = 1.0,
        passkeys: dict[str, int] | int = DEFAULT_PASSKEY,
        keystore_dir: Path | None = None,
        status_interval: float = 5.0,
        disconnect_every: float | None = None,
        seed: int = 0,
        only: Sequence[str] | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.header = header
        self.speed = speed
        self.disconnect_every = disconnect_every
        self.disconnects = 0
        self.reboots = 0
        self._rng = random.Random(seed)
        self._plans = plan(records)
        masks = node_beams(header)
        for name, planned in self._plans.items():
            for item in planned:
                masks[name] = masks.get(name, 0) | 1 << item.tick.beam
        self._broken_at = {
            (name, boot): broken_at_boot([p.tick for p in planned if p.tick.boot == boot])
            for name, planned in self._plans.items()
            for boot in {p.tick.boot for p in planned}
        }
        names = sorted(set(self._plans) | set(masks))
        if only is not None:
            names = [n for n in names if n in set(only)]
        self.nodes: dict[str, SimNode] = {}
        for name in names:
            plan_ = self._plans.get(name, [])
            first = plan_[0].tick if plan_ else None
            self.nodes[name] = SimNode(
                name,
                passkeys if isinstance(passkeys, int) else passkeys[name],
                radio,
                boot_id=first.boot if first else None,
                keystore=keystore_dir / f"{name}.json" if keystore_dir else None,
                beams=masks.get(name, 0b01),
                status_interval=status_interval,
                rate=1e6 * speed,
                clock_us=max(0, first.node_us - 1_000_000) if first else 0,
                broken=self._broken_at[(name, first.boot)] if first else (),
            )
            if first:
                # Until the replay starts (pairing, connecting) node time waits at the first edge.
                self.nodes[name].hold_clock(first.node_us)
        starts = [p[0].t for n, p in self._plans.items() if p and n in self.nodes]
        self.t0 = min(starts) - 1.0 if starts else 0.0
        self._wall0: float | None = None

    def served(self) -> set[tuple[str, int, int]]:
        """Every (node, boot, seq) the nodes' firmware cores numbered."""
        return {(n.node_id, t.boot, t.seq) for n in self.nodes.values() for t in n.created}

    def renumbered(self) -> set[tuple[str, int, int, int, int, bool]]:
        """Served ticks that differ from the trace's (node, boot, seq, node_us, beam, broken),
        and trace ticks not served: empty unless the trace has sequence gaps."""
        served = {
            (n.node_id, t.boot, t.seq, t.node_us, t.beam, t.broken)
            for n in self.nodes.values()
            for t in n.created
        }
        traced = {
            (name, p.tick.boot, p.tick.seq, p.tick.node_us, p.tick.beam, p.tick.broken)
            for name, planned in self._plans.items()
            if name in self.nodes
            for p in planned
        }
        return served ^ traced

    def lost(self) -> set[tuple[str, int, int]]:
        """Ticks that never left their node (unsent at a reboot, or overwritten)."""
        return {(n.node_id, t.boot, t.seq) for n in self.nodes.values() for t in n.lost}

    async def start(self) -> None:
        for node in self.nodes.values():
            await node.start()

    def open_pairing(self, seconds: float = 120.0) -> None:
        for node in self.nodes.values():
            node.peripheral.open_pairing_window(seconds)

    async def close(self) -> None:
        for node in self.nodes.values():
            await node.close()

    def clock(self) -> float:
        """Trace time now: a gateway under test stamps receive times with it.

        Before `run()` it stays just before the first tick (setup: pairing, connecting).
        """
        if self._wall0 is None:
            return self.t0 - 1.0
        return self.t0 + (asyncio.get_running_loop().time() - self._wall0) * self.speed

    async def run(self) -> None:
        """Replay every planned tick at its (accelerated) time; returns at the end."""
        loop = asyncio.get_running_loop()
        wall0 = self._wall0 = loop.time()
        for name, node in self.nodes.items():
            plan_ = self._plans.get(name)
            if plan_:
                first = plan_[0]
                node.set_clock(max(0, first.tick.node_us - int((first.t - self.t0) * 1e6)))
        chaos = None
        if self.disconnect_every:
            chaos = loop.create_task(self._chaos())
        try:
            await asyncio.gather(
                *(self._replay(name, node, wall0) for name, node in self.nodes.items())
            )
        finally:
            if chaos is not None:
                chaos.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await chaos

    async def _replay(self, name: str, node: SimNode, wall0: float) -> None:
        loop = asyncio.get_running_loop()
        for item in self._plans.get(name, []):
            tick = item.tick
            same_boot = tick.boot == node.boot_id
            # The core's time never goes back: its clock waits for an edge that is late.
            node.hold_clock(tick.node_us if same_boot else None)
            delay = wall0 + (item.t - self.t0) / self.speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if not same_boot:
                # A controlled reboot: what the old boot holds unsent goes out first.
                await node.reboot(
                    tick.boot,
                    max(0, tick.node_us - 1_000_000),
                    flush=5.0,
                    broken=self._broken_at[(name, tick.boot)],
                )
                self.reboots += 1
            node.emit(tick.beam, tick.broken, node_us=tick.node_us)

    async def _chaos(self) -> None:
        assert self.disconnect_every is not None
        names = sorted(self.nodes)
        while True:
            await asyncio.sleep(self._rng.expovariate(1.0 / self.disconnect_every))
            node = self.nodes[self._rng.choice(names)]
            if node.peripheral.connected:
                logger.info("link loss on %s", node.node_id)
                self.disconnects += 1
                await node.drop_link()
