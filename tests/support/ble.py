"""BLE test helpers: real bumble stacks on an in-process radio, no mocks.

Import explicitly from test modules. Nodes are `sensor_sim.ble` peripherals; the gateway side
is bleak's public API on the bumble backend (`gateway.sources.ble.backend.open_backend(link)`).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from gateway.core.events import Crossing, Event
from gateway.pipeline.live import LiveCounter
from gateway.protocol.trace import Record, Tick, TraceHeader, TraceReader
from gateway.sources.ble import pairing
from gateway.sources.ble.backend import Backend, open_backend
from gateway.sources.ble.ingest import IngestConfig, PairedNode, Report
from sensor_sim.ble.link import RadioLink
from sensor_sim.ble.node import SimNode
from sensor_sim.ble.serve import TraceServer

PASSKEY = 123456


@asynccontextmanager
async def nodes_on(
    radio: RadioLink, names: Sequence[str], tmp_path: Path, **kwargs: object
) -> AsyncIterator[list[SimNode]]:
    """Started simulated nodes (bonds in tmp_path), closed afterwards."""
    nodes = [
        SimNode(name, PASSKEY, radio, keystore=tmp_path / f"node-{name}.json", **kwargs)  # type: ignore[arg-type]
        for name in names
    ]
    try:
        for node in nodes:
            await node.start()
        yield nodes
    finally:
        for node in nodes:
            await node.close()


@asynccontextmanager
async def gateway_on(radio: RadioLink, tmp_path: Path) -> AsyncIterator[Backend]:
    """The gateway's bumble backend with its key store in tmp_path (a restart reuses it)."""
    backend = await open_backend(radio, keystore=tmp_path / "gateway-keys.json")
    try:
        yield backend
    finally:
        await backend.close()


async def pair_all(backend: Backend, nodes: Sequence[SimNode]) -> list[PairedNode]:
    """Press every node's button, pair with the label passkey, close the windows again."""
    paired = []
    for node in nodes:
        node.peripheral.open_pairing_window()
        paired.append(await pairing.pair(backend, node.address, PASSKEY))
        node.peripheral.open_pairing_window(0)
    return paired


@dataclass(slots=True)
class Session:
    """What a served-trace session produced."""

    served: set[tuple[str, int, int]]
    lost: set[tuple[str, int, int]]
    received: list[tuple[str, int, int]]
    live: list[Event]
    recording: str
    reports: list[Report] = field(default_factory=list)
    disconnects: int = 0
    reboots: int = 0
    connect_s: float = 0.0

    @property
    def crossings(self) -> list[Crossing]:
        return [e for e in self.live if isinstance(e, Crossing)]


async def serve_session(
    header: TraceHeader,
    records: Sequence[Record],
    tmp_path: Path,
    *,
    speed: float,
    interval: float = 0.015,
    disconnect_every: float | None = None,
    status_interval: float = 1.0,
    seed: int = 0,
) -> Session:
    """Serve a trace from one simulated node per trace node to a live gateway, end to end.

    Pairing runs on an instant radio (it is not under test here); the session itself runs at
    `interval`. The gateway stamps receive times with the server's accelerated trace clock.
    """
    radio = RadioLink(interval=0.0, seed=seed)
    server = TraceServer(
        header,
        records,
        radio,
        speed=speed,
        passkeys=PASSKEY,
        keystore_dir=tmp_path / "nodes",
        status_interval=status_interval,
        disconnect_every=disconnect_every,
        seed=seed,
    )
    await server.start()
    try:
        async with gateway_on(radio, tmp_path) as backend:
            paired = await pair_all(backend, list(server.nodes.values()))
            radio.interval = interval
            record = io.StringIO()
            reports: list[Report] = []
            live = LiveCounter(
                backend,
                header,
                paired,
                ingest_config=IngestConfig(
                    silence_s=10 * status_interval, backoff_min=0.05, backoff_max=1.0
                ),
                on_report=reports.append,
                record=record,
                clock=server.clock,
            )
            loop = asyncio.get_running_loop()
            started = loop.time()
            await live.start()
            await live.ingest.wait_connected()
            connect_s = loop.time() - started
            await server.run()
            # Let the last ticks arrive: every node connected and nothing left unsent.
            try:
                async with asyncio.timeout(60):
                    while live.ingest.connected() < len(paired) or any(
                        n.unsent for n in server.nodes.values()
                    ):
                        await asyncio.sleep(0.05)
            except TimeoutError:
                states = [
                    (n.node_id, n.peripheral.connected, n.streaming, n.unsent)
                    for n in server.nodes.values()
                ]
                raise AssertionError(
                    f"session did not settle: nodes {states}, health {live.ingest.health()}"
                ) from None
            await asyncio.sleep(0.5)
            await live.stop()
            recording = record.getvalue()
            return Session(
                served=server.served(),
                lost=server.lost(),
                received=[
                    (t.node, t.boot, t.seq)
                    for t in TraceReader(recording.splitlines())
                    if isinstance(t, Tick)
                ],
                live=live.events,
                recording=recording,
                reports=reports,
                disconnects=server.disconnects,
                reboots=server.reboots,
                connect_s=connect_s,
            )
    finally:
        await server.close()
