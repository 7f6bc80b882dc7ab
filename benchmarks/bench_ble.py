"""BLE path figures over bumble's virtual radio (real host stacks, connection-interval timing).

    python -m benchmarks.bench_ble [--nodes 20] [--interval-ms 15] [--burst 500] [--latency-s 60]

Prints: time to connect N paired nodes (serialised connects, encryption, discovery, resume),
tick throughput through bleak with N nodes bursting at once, and latency from a beam edge made
by a simulated node to (a) the tick reaching the engine and (b) the crossing leaving the engine
(p50/p99), serving a two-node-per-door trace in real time. (b) includes the engine's own wait:
both beams clear for segment_gap_s plus reorder_s before a crossing is decided. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from pathlib import Path

from gateway.core.events import Crossing, Event
from gateway.pipeline.live import LiveCounter
from gateway.protocol.trace import Tick
from gateway.sources.ble.ingest import Ingest, IngestConfig
from sensor_sim.ble.link import RadioLink
from sensor_sim.ble.serve import TraceServer
from sensor_sim.generator import generate
from tests.support.ble import gateway_on, nodes_on, pair_all


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def connect_and_throughput(
    directory: Path, nodes: int, interval: float, burst: int
) -> tuple[float, float, int]:
    radio = RadioLink(interval=0.0)
    names = [f"n{i:02d}" for i in range(1, nodes + 1)]
    async with (
        nodes_on(radio, names, directory, status_interval=2.0) as sims,
        gateway_on(radio, directory) as backend,
    ):
        paired = await pair_all(backend, sims)
        radio.interval = interval
        got: list[Tick] = []
        ingest = Ingest(backend, paired, got.extend, config=IngestConfig(silence_s=30))
        loop = asyncio.get_running_loop()
        start = loop.time()
        await ingest.start()
        await ingest.wait_connected()
        connect_s = loop.time() - start
        start = loop.time()
        for k in range(burst):
            for sim in sims:
                sim.emit(k % 2, k % 4 < 2)
            if k % 50 == 49:
                await asyncio.sleep(0)
        want = burst * nodes
        while len(got) < want:
            await asyncio.sleep(0.001)
        rate = want / (loop.time() - start)
        await ingest.stop()
    return connect_s, rate, want


async def latency(directory: Path, nodes: int, interval: float, seconds: float) -> None:
    header, records = generate("two-node-skew", seconds, 11, doors=max(1, nodes // 2))
    radio = RadioLink(interval=0.0)
    server = TraceServer(
        header, records, radio, speed=1.0, keystore_dir=directory / "nodes", status_interval=2.0
    )
    await server.start()
    loop = asyncio.get_running_loop()
    arrived: list[tuple[float, Tick]] = []
    decided: list[tuple[float, Crossing]] = []

    def on_events(events: list[Event]) -> None:
        now = loop.time()
        decided.extend((now, e) for e in events if isinstance(e, Crossing))

    try:
        async with gateway_on(radio, directory) as backend:
            paired = await pair_all(backend, list(server.nodes.values()))
            radio.interval = interval
            live = LiveCounter(
                backend,
                header,
                paired,
                on_events=on_events,
                on_ticks=lambda ticks: arrived.extend((loop.time(), t) for t in ticks),
                clock=server.clock,
                advance_s=0.02,
            )
            await live.start()
            await live.ingest.wait_connected()
            await server.run()
            await asyncio.sleep(3.0)
            await live.stop()
    finally:
        await server.close()
    made = {
        (sim.node_id, t.boot, t.seq): t.made_at
        for sim in server.nodes.values()
        for t in sim.created
    }
    tick_lat = [at - made[(t.node, t.boot, t.seq)] for at, t in arrived]
    door_of = {ref.node: d.door for d in header.doors for ref in (d.outer, d.inner)}
    edges: dict[str, list[float]] = {}
    for sim in server.nodes.values():
        edges.setdefault(door_of[sim.node_id], []).extend(t.made_at for t in sim.created)
    cross_lat = []
    for at, crossing in decided:
        before = [m for m in edges.get(crossing.door, []) if m <= at]
        if before:
            cross_lat.append(at - max(before))
    print(f"latency, {nodes} nodes, {interval * 1000:g} ms interval, {seconds:g} s real time:")
    print(
        f"  beam edge -> tick at the engine : p50 {_pct(tick_lat, 0.5) * 1000:7.1f} ms   "
        f"p99 {_pct(tick_lat, 0.99) * 1000:7.1f} ms   ({len(tick_lat)} ticks)"
    )
    print(
        f"  beam edge -> crossing event     : p50 {_pct(cross_lat, 0.5) * 1000:7.1f} ms   "
        f"p99 {_pct(cross_lat, 0.99) * 1000:7.1f} ms   ({len(cross_lat)} crossings)"
    )
    if tick_lat:
        print(f"  (mean tick latency {statistics.fmean(tick_lat) * 1000:.1f} ms)")


async def main(args: argparse.Namespace) -> None:
    interval = args.interval_ms / 1000
    with tempfile.TemporaryDirectory() as tmp:
        connect_s, rate, ticks = await connect_and_throughput(
            Path(tmp) / "a", args.nodes, interval, args.burst
        )
        print(
            f"connect {args.nodes} paired nodes ({args.interval_ms:g} ms interval): "
            f"{connect_s:.2f} s"
        )
        print(
            f"throughput through bleak, {args.nodes} nodes bursting: {rate:,.0f} ticks/s "
            f"({ticks} ticks)"
        )
        await latency(Path(tmp) / "b", args.nodes, interval, args.latency_s)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--interval-ms", type=float, default=15.0)
    parser.add_argument("--burst", type=int, default=500, help="ticks per node in the burst")
    parser.add_argument("--latency-s", type=float, default=60.0)
    logging.basicConfig(level=logging.ERROR)
    started = time.perf_counter()
    asyncio.run(main(parser.parse_args()))
    print(f"(benchmark ran {time.perf_counter() - started:.0f} s)")
