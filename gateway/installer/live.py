"""`doorcount live`: watch doors while aiming beams: beam states as they change, each node's
link, RSSI, battery and signal quality, and each crossing as it is decided.

`LiveDoors` is sans-IO (fed ticks and `advance(now)`, returns lines to show); `run_live`
connects the doors' nodes through `Ingest` and prints. The engine runs with the walk test's
tuning, so a one-beam break is decided in 2 s rather than held for a backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

from gateway.core.engine import Engine
from gateway.core.events import Crossing, Health
from gateway.core.tuning import EngineConfig
from gateway.installer.site import Site
from gateway.installer.view import StepError, clock, health_line
from gateway.installer.walkrun import door_ingest, door_nodes, not_connected
from gateway.installer.walktest import walk_tuning
from gateway.protocol.trace import DoorSpec, Tick
from gateway.sources.ble.ingest import NodeHealth, PairedNode, Report


def signal_quality(health: NodeHealth) -> str:
    """good / fair / poor from RSSI and how often the link dropped or lost ticks."""
    if not health.connected:
        return "no link"
    rssi = health.rssi
    troubled = health.silent_drops or health.gaps or health.reconnects > 2
    if (rssi is not None and rssi < -85) or health.silent_drops > 2:
        return "poor"
    if (rssi is not None and rssi < -72) or troubled:
        return "fair"
    return "good"


def node_status(health: NodeHealth) -> str:
    error = health.last_error or "not heard"
    link = "connected" if health.connected else f"NOT CONNECTED ({error})"
    parts = [f"{health.node:<10} {link}"]
    if health.rssi is not None:
        parts.append(f"{health.rssi} dBm")
    if health.battery_pct is not None:
        parts.append(f"battery {health.battery_pct}%")
    parts.append(f"signal {signal_quality(health)}")
    return "  ".join(parts)


class LiveDoors:
    """The doors' beams and decided crossings, from their nodes' ticks (sans-IO)."""

    def __init__(self, doors: Sequence[DoorSpec], config: EngineConfig | None = None) -> None:
        config = config or EngineConfig()
        tunings = {d.door: walk_tuning(config.for_door(d.door)) for d in doors}
        self.doors = list(doors)
        self.engine = Engine(doors, config.model_copy(update={"doors": tunings}))
        self.beams: dict[tuple[str, int], tuple[str, str]] = {}
        for d in doors:
            self.beams[(d.outer.node, d.outer.beam)] = (d.door, "outer")
            self.beams[(d.inner.node, d.inner.beam)] = (d.door, "inner")
        self.broken: set[tuple[str, int]] = set()
        self.crossings: list[Crossing] = []
        """Every crossing decided, in order."""
        self.counts: dict[str, dict[str, int]] = {d.door: {"in": 0, "out": 0} for d in doors}

    def feed(self, tick: Tick) -> list[str]:
        lines = []
        where = self.beams.get((tick.node, tick.beam))
        if where is not None:
            key = (tick.node, tick.beam)
            was = key in self.broken
            if tick.broken:
                self.broken.add(key)
            else:
                self.broken.discard(key)
            if was != tick.broken:
                state = "BROKEN" if tick.broken else "clear"
                lines.append(
                    f"{clock(tick.rx)}  {where[0]}  {where[1]:<5} {tick.node}/{tick.beam} {state}"
                )
        return lines + self._show(self.engine.feed(tick))

    def advance(self, now: float) -> list[str]:
        return self._show(self.engine.advance(now))

    def finish(self) -> list[str]:
        """Decide what is still open (the view ends)."""
        return self._show(self.engine.finish())

    def _show(self, events: Sequence[object]) -> list[str]:
        lines = []
        for event in events:
            if isinstance(event, Crossing):
                self.crossings.append(event)
                self.counts[event.door][event.direction] += 1
                c = self.counts[event.door]
                lines.append(
                    f"{clock(event.t)}  {event.door}  crossing {event.direction.upper()}  "
                    f"conf {event.confidence:.2f}  (in {c['in']}, out {c['out']})"
                )
            elif isinstance(event, Health):
                lines.append(health_line(event).strip())
        return lines

    def door_lines(self) -> list[str]:
        out = []
        for d in self.doors:
            beams = []
            for pos, ref in (("outer", d.outer), ("inner", d.inner)):
                state = "BROKEN" if (ref.node, ref.beam) in self.broken else "clear"
                beams.append(f"{pos} {ref.node}/{ref.beam} {state}")
            c = self.counts[d.door]
            out.append(f"{d.door}: {', '.join(beams)}; in {c['in']}, out {c['out']}")
        return out


async def run_live(
    site: Site,
    door: str | None,
    *,
    seconds: float | None,
    every: float,
    connect_timeout: float,
    say: Callable[..., None],
    stop: asyncio.Event,
) -> LiveDoors:
    """Watch `door` (every door that is ready when None) until `seconds` or `stop`."""
    specs = [site.door_spec(door)] if door else site.config.door_specs(site.pairings)
    if not specs:
        raise StepError(
            "no door is ready to watch (each needs an outer and an inner beam)",
            "doorcount doors shows what is missing",
        )
    nodes: dict[str, PairedNode] = {}
    for spec in specs:
        for n in door_nodes(site, spec.door):
            nodes[n.node] = n
    live = LiveDoors(specs, site.config.engine_config())

    def on_ticks(ticks: list[Tick]) -> None:
        for tick in ticks:
            say(*live.feed(tick))

    def on_report(report: Report) -> None:
        if report.kind in ("connected", "disconnected", "not_bonded", "wrong_node", "rebooted"):
            detail = f": {report.detail}" if report.detail else ""
            say(f"{clock(report.t)}  {report.node} {report.kind.replace('_', ' ')}{detail}")

    loop = asyncio.get_running_loop()
    backend = await site.open_backend()
    try:
        ingest = door_ingest(site, backend, list(nodes.values()), on_ticks, on_report)
        await ingest.start()
        try:
            try:
                await asyncio.wait_for(ingest.wait_connected(), connect_timeout)
            except TimeoutError:
                raise not_connected(site, ingest) from None
            say(
                f"watching {', '.join(s.door for s in specs)}: beams as they change, each "
                "crossing as it is decided (Ctrl-C to stop)"
            )
            end = None if seconds is None else loop.time() + seconds
            next_table = loop.time()
            while not stop.is_set() and (end is None or loop.time() < end):
                if loop.time() >= next_table:
                    say(*live.door_lines(), *(node_status(h) for h in ingest.health()))
                    next_table = loop.time() + every
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.1):
                        await stop.wait()
                say(*live.advance(time.time()))
            say(*live.finish())
            say(*live.door_lines(), *(node_status(h) for h in ingest.health()))
        finally:
            await ingest.stop()
    finally:
        await backend.close()
    return live
