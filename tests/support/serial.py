"""Serial ingest test helpers: simulated wired nodes on real ptys and a source collecting ticks.

Import explicitly: `from tests.support.serial import Bench, served, trace_ticks`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from gateway.protocol.trace import Tick, TraceHeader
from gateway.sources.base import NodeStatus, ResumePoints
from gateway.sources.serial import SerialPort, SerialSource, SerialSpec
from sensor_sim.commands.serve_serial import WiredNode, nodes_for
from sensor_sim.generator import generate

NOON = 1748952000.0
SPEED = 300.0  # node seconds per wall second: a 2-minute trace streams in well under a second
WAIT = 20.0  # s: the longest any test waits for ticks (a hang fails, never a slow pass)

TickKey = tuple[str, int, int]


@cache
def trace_ticks(name: str, duration: float, seed: int = 1) -> tuple[TraceHeader, tuple[Tick, ...]]:
    header, records = generate(name, duration, seed, NOON)
    return header, tuple(r for r in records if isinstance(r, Tick))


def served(nodes: list[WiredNode]) -> set[TickKey]:
    """Every (node, boot, seq) the simulated nodes wrote on their lines at least once."""
    return {(n.node_id, boot, seq) for n in nodes for boot, seq in n.sent}


def key(t: Tick) -> TickKey:
    return (t.node, t.boot, t.seq)


@dataclass
class Bench:
    """Wired nodes on ptys and a `SerialSource` reading them; `ticks` in arrival order."""

    nodes: list[WiredNode]
    source: SerialSource
    ticks: list[Tick] = field(default_factory=list)
    statuses: list[NodeStatus] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def for_trace(
        cls, header: TraceHeader, ticks: tuple[Tick, ...], tmp: Path, *, by_link: bool = False
    ) -> Bench:
        """One node per trace node; with `by_link` the source opens stable symlinks in `tmp`."""
        nodes = nodes_for(header, ticks, SPEED, tmp if by_link else None)
        return cls.for_nodes(nodes)

    @classmethod
    def for_nodes(cls, nodes: list[WiredNode]) -> Bench:
        paths = []
        for node in nodes:
            slave = node.plug()
            paths.append(str(node.link) if node.link is not None else slave)
        ports = [SerialPort(SerialSpec(p), n.node_id) for p, n in zip(paths, nodes, strict=True)]
        return cls(nodes, SerialSource(ports, backoff_min=0.02, backoff_max=0.1))

    def start_nodes(self) -> None:
        self._tasks += [asyncio.create_task(n.run(), name=n.node_id) for n in self.nodes]

    def start_source(self, resume: ResumePoints | None = None) -> None:
        self._tasks.append(asyncio.create_task(self._consume(resume or {}), name="source"))

    async def _consume(self, resume: ResumePoints) -> None:
        async for item in self.source.stream(resume):
            if isinstance(item, Tick):
                self.ticks.append(item)
            elif isinstance(item, NodeStatus):
                self.statuses.append(item)

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        async with asyncio.timeout(WAIT):
            while not condition():
                await asyncio.sleep(0.005)
        assert condition(), what

    async def all_served(self) -> None:
        """Until every node wrote its last tick and the source delivered everything written."""
        await self.until(lambda: all(n.finished.is_set() for n in self.nodes), "nodes finished")
        await self.until(
            lambda: {key(t) for t in self.ticks} >= served(self.nodes), "every served tick arrived"
        )

    async def stop(self) -> None:
        self.source.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for node in self.nodes:
            node.close()


@contextlib.asynccontextmanager
async def running(bench: Bench) -> AsyncIterator[Bench]:
    bench.start_nodes()
    bench.start_source()
    try:
        yield bench
    finally:
        await bench.stop()
