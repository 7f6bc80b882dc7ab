"""Bridge throughput (points/s) and catch-up time after a time-series outage.

Real servers on 127.0.0.1 (Mosquitto, VictoriaMetrics, InfluxDB 1.6.7) and the real bridge on
a thread. For each sink and batch size:
- drain: N interval messages queue in the broker while the bridge is stopped (its session
  exists); points/s = points stored / time from the bridge's start to the last one stored
  (this measures the bridge, not the publisher);
- catch-up: with the bridge running, the sink is down while M messages queue up, then comes
  back; the time from the sink's return (process start) to the last message stored.

Run: .venv/bin/python benchmarks/bench_bridge.py [--messages 20000] [--backlog 20000]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.outputs.bridge.service import Bridge
from gateway.outputs.bridge.settings import BridgeSettings
from gateway.outputs.bridge.sinks import open_sink
from gateway.outputs.mqtt.payloads import IntervalPayload, Topics
from tests.support.mqtt import Mosquitto
from tests.support.tsdb import Influx1, Victoria

DOORS = [f"door{i}" for i in range(8)]
T0 = 1_767_571_200


def messages(count: int, offset: int) -> list[tuple[str, bytes]]:
    topics = Topics("doorcount", "Bench Site")
    out = []
    for i in range(count):
        door = DOORS[i % len(DOORS)]
        start = T0 + 60 * ((offset + i) // len(DOORS))
        payload = IntervalPayload(
            site="Bench Site",
            door=door,
            start=start,
            seconds=60,
            entries=i % 7,
            exits=i % 5,
            revision=0,
        )
        out.append((topics.interval(door), payload.encode()))
    return out


def publish(port: int, batch: list[tuple[str, bytes]]) -> float:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-gateway")
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    started = time.monotonic()
    infos = [client.publish(topic, payload, qos=1) for topic, payload in batch]
    for info in infos:
        info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()
    return started


def wait(predicate: Callable[[], bool], timeout: float = 300) -> float:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("bridge did not finish")
        time.sleep(0.005)
    return time.monotonic()


class Run:
    def __init__(self, settings: BridgeSettings) -> None:
        self.bridge = Bridge(settings, open_sink(settings))
        self.thread = threading.Thread(target=self.bridge.run, daemon=True)
        self.thread.start()
        wait(lambda: self.bridge.stats.subscribed > 0, 30)

    def stop(self) -> None:
        self.bridge.stop()
        self.thread.join(30)


def bench(
    kind: str, batch: int, steady: int, backlog: int, folder: Path
) -> tuple[float, float, int]:
    broker = Mosquitto(folder / "mqtt")
    broker.start()
    server: Victoria | Influx1 | None = None
    extra: dict[str, object] = {"store_path": folder / "series.sqlite"}
    if kind == "victoria":
        server = Victoria(folder / "vm")
        server.start()
        extra = {"influx_url": server.url, "influx_token": "bench"}
    elif kind == "influxdb1":
        server = Influx1(folder / "influx")
        server.start()
        server.create_database("doorcount")
        extra = {"influx_url": server.url, "influx_api": "v1", "influx_bucket": "doorcount"}
    settings = BridgeSettings(
        mqtt_port=broker.port,
        batch_size=batch,
        linger=0.05,
        retry_initial=0.2,
        retry_max=1.0,
        timezone="UTC",
        **extra,  # type: ignore[arg-type]
    )
    Run(settings).stop()  # creates the persistent session
    publish(broker.port, messages(steady, 0))
    started = time.monotonic()
    run = Run(settings)
    try:
        stats = run.bridge.stats
        done = wait(lambda: stats.stored >= steady)
        rate = stats.points / (done - started)
        catch_up = float("nan")
        if server is not None:
            server.stop()
            publish(broker.port, messages(backlog, steady))
            time.sleep(1.0)
            back = time.monotonic()
            server.start()
            done = wait(lambda: stats.stored >= steady + backlog)
            catch_up = done - back
        return rate, catch_up, stats.write_failures
    finally:
        run.stop()
        if server is not None:
            server.stop()
        broker.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000, help="queued before start")
    parser.add_argument("--backlog", type=int, default=20_000, help="published during outage")
    parser.add_argument("--batches", default="20,100", help="batch sizes (broker window: 100)")
    args = parser.parse_args()
    table = Table(title=f"doorcount bridge: {args.messages} queued, {args.backlog} during outage")
    for column in ("sink", "batch", "drain points/s", "catch-up s", "failed writes"):
        table.add_column(column, justify="left" if column == "sink" else "right")
    for kind in ("victoria", "influxdb1", "local store"):
        for batch in (int(b) for b in args.batches.split(",")):
            with tempfile.TemporaryDirectory() as tmp:
                rate, catch_up, failures = bench(
                    kind, batch, args.messages, args.backlog, Path(tmp)
                )
            table.add_row(
                kind,
                str(batch),
                f"{rate:,.0f}",
                "-" if math.isnan(catch_up) else f"{catch_up:.2f}",
                str(failures),
            )
    Console().print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
