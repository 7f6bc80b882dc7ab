"""MQTT output throughput: messages/s to a real Mosquitto, and how fast a broker-down backlog
drains once the broker is back.

    python -m benchmarks.bench_mqtt [--scenario real-day] [--duration 4h] [--messages 20000]

Needs the `mosquitto` binary (Debian package). Not a test: it prints measured figures.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from pathlib import Path

from gateway.outputs.mqtt.client import MqttLink
from gateway.outputs.mqtt.settings import MqttSettings
from gateway.outputs.outbox import Message, Outbox
from gateway.pipeline.service import Service
from gateway.protocol.trace import write_trace
from gateway.sources.tracefile import TraceReplay
from sensor_sim.generator import generate
from tests.support.mqtt import Mosquitto, free_port


def _duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)


async def drain_rate(directory: Path, protocol: str, sync: str, messages: int) -> float:
    """Messages/s from a pre-filled outbox to the broker (publish + PUBACK + delete)."""
    broker = Mosquitto(directory / f"m-{protocol}-{sync}")
    broker.start()
    try:
        box = Outbox(directory / f"o-{protocol}-{sync}.db", sync=sync)  # type: ignore[arg-type]
        payload = (
            b'{"v":1,"site":"bench","door":"front","start":1748944800,"seconds":60,'
            b'"entries":12,"exits":9,"revision":0}'
        )
        with box.batch() as batch:
            for _ in range(messages):
                batch.enqueue(Message("doorcount/bench/front/interval", payload))
        settings = MqttSettings(
            host=broker.host,
            port=broker.port,
            protocol=protocol,  # type: ignore[arg-type]
            outbox_path=box.path,
        )
        link = MqttLink(settings, "bench", box)
        task = asyncio.create_task(link.run())
        start = time.perf_counter()
        assert await link.drained(600)
        elapsed = time.perf_counter() - start
        await link.stop()
        await task
        box.close()
        return messages / elapsed
    finally:
        broker.stop()


async def backlog(directory: Path, trace: Path) -> dict[str, float]:
    """Replay a trace with the broker down, then start it and time the drain."""
    port = free_port()
    settings = MqttSettings(
        host="127.0.0.1",
        port=port,
        outbox_path=directory / "backlog.db",
        reconnect_min=0.05,
        reconnect_max=0.2,
    )
    source = TraceReplay(trace)
    service = Service(
        site=source.header.site, doors=source.header.doors, source=source, mqtt=settings
    )
    ticks = sum(1 for line in trace.open("rb") if b'"tick"' in line)
    start = time.perf_counter()
    await service.run(drain_timeout=0)
    counted = time.perf_counter() - start
    box = Outbox(settings.outbox_path)
    depth = box.depth
    size = sum(p.stat().st_size for p in directory.glob("backlog.db*"))
    broker = Mosquitto(directory / "m-backlog", port=port)
    broker.start()
    try:
        link = MqttLink(settings, source.header.site, box)
        task = asyncio.create_task(link.run())
        start = time.perf_counter()
        assert await link.drained(600)
        drained = time.perf_counter() - start
        await link.stop()
        await task
    finally:
        broker.stop()
    return {
        "ticks": ticks,
        "count_s": counted,
        "depth": depth,
        "db_mb": size / 1e6,
        "drain_s": drained,
    }


async def main(args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        table = Table(title=f"outbox -> mosquitto, {args.messages} queued messages, QoS 1")
        for col in ("protocol", "outbox sync", "messages/s"):
            table.add_column(col, justify="right")
        for protocol in ("3.1.1", "5"):
            for sync in ("full", "normal"):
                rate = await drain_rate(directory, protocol, sync, args.messages)
                table.add_row(protocol, sync, f"{rate:,.0f}")
        console.print(table)

        seconds = _duration(args.duration)
        trace = directory / "trace.jsonl"
        header, records = generate(args.scenario, seconds, args.seed)
        write_trace(trace, header, records)
        figures = await backlog(directory, trace)
        table = Table(
            title=f"broker down for a whole {args.scenario} {args.duration} "
            f"({len(header.doors)} doors), then back"
        )
        for col in (
            "ticks",
            "counted in",
            "queued messages",
            "outbox size",
            "drained in",
            "drain rate",
        ):
            table.add_column(col, justify="right")
        table.add_row(
            f"{figures['ticks']:,.0f}",
            f"{figures['count_s']:.1f} s",
            f"{figures['depth']:,.0f}",
            f"{figures['db_mb']:.1f} MB",
            f"{figures['drain_s']:.2f} s",
            f"{figures['depth'] / figures['drain_s']:,.0f} msg/s",
        )
        console.print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="real-day")
    parser.add_argument("--duration", default="4h")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--messages", type=int, default=20000)
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(main(parser.parse_args()))
