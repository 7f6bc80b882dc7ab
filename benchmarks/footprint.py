"""Gateway footprint: memory, CPU, engine ticks/s and beam-to-MQTT latency with 20 doors.

    python -m benchmarks.footprint [--doors 20] [--minutes 5] [--rate 20] [--seed 2026]

A simulated site (N doors, each a pair of single-beam nodes, `busy` traffic at --rate people
per minute per door) runs through the real gateway service (gateway/pipeline/service.py:
engine, outbox
with fsync, MQTT link) in a child process, into a real local Mosquitto:

1. real time for --minutes: each tick is handed to the service at its trace time and stamped
   with the wall clock (as a radio would), so latencies are real. The parent samples the
   child's RSS and CPU time from /proc and subscribes to the crossings; the child notes, per
   crossing, the rx of the tick that let the engine decide it and the engine's `decided_at`;
2. as fast as possible (a --fast-minutes trace of the same site, rx as recorded): ticks/s
   through the whole service (engine + outbox + MQTT) per CPU second of the child.

Latency: rx of the door's last tick before the decision -> crossing message at a subscriber
(end to end), and `decided_at` - that rx (the engine's part: how long it waited to be sure).
Needs the `mosquitto` binary. Not a test: it prints measured figures.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


# -- child: the gateway service with a timing engine -----------------------------------------


class WallClockReplay:
    """A tick source playing a trace at real time, rx = the wall clock when handed over."""

    def __init__(self, path: Path) -> None:
        from gateway.protocol.trace import open_trace

        with open_trace(path) as reader:
            self.header = reader.header

        self.path = path
        self.ticks = 0

    def now(self) -> float:
        return time.time()

    async def stream(self, resume: Any) -> AsyncIterator[Any]:
        from gateway.protocol.trace import Tick, open_trace

        origin: tuple[float, float] | None = None
        with open_trace(self.path) as reader:
            for record in reader:
                if not isinstance(record, Tick):
                    continue
                if origin is None:
                    origin = (record.rx, time.time())
                delay = origin[1] + (record.rx - origin[0]) - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                self.ticks += 1
                yield dataclasses.replace(record, rx=time.time())


class TimingEngine:
    """The real engine, noting for each crossing the rx of its door's last tick before it was
    decided (the tick that let the engine decide, or the last one before a timeout did)."""

    def __init__(self, inner: Any, doors: Sequence[Any], notes: list[dict[str, Any]]) -> None:
        self.inner = inner
        self.notes = notes
        self.door_of = {}
        for spec in doors:
            self.door_of[spec.outer.node] = spec.door
            self.door_of[spec.inner.node] = spec.door
        self.last_rx: dict[str, float] = {}

    def _note(self, events: list[Any]) -> list[Any]:
        from gateway.core.events import Crossing
        from gateway.outputs.mqtt.payloads import crossing_id

        for event in events:
            if isinstance(event, Crossing):
                self.notes.append(
                    {
                        "id": crossing_id(event.door, event.t, event.direction),
                        "rx": self.last_rx.get(event.door, event.t),
                        "decided_at": event.decided_at,
                        "t": event.t,
                    }
                )
        return events

    def feed(self, tick: Any) -> list[Any]:
        door = self.door_of.get(tick.node)
        if door is not None:
            self.last_rx[door] = tick.rx
        return self._note(self.inner.feed(tick))

    def advance(self, now: float) -> list[Any]:
        return self._note(self.inner.advance(now))

    def finish(self) -> list[Any]:
        return self._note(self.inner.finish())

    def resume_points(self) -> Any:
        return self.inner.resume_points()

    def continue_from(self, resume: Any) -> None:
        self.inner.continue_from(resume)

    def snapshot(self) -> bytes:
        return bytes(self.inner.snapshot())


def child(args: argparse.Namespace) -> int:
    from gateway.outputs.mqtt.settings import MqttSettings
    from gateway.pipeline.service import Service, default_engine
    from gateway.sources.tracefile import TraceReplay

    notes: list[dict[str, Any]] = []
    source: Any = WallClockReplay(args.trace) if args.realtime else TraceReplay(args.trace)
    doors = list(source.header.doors)

    def factory(specs: Sequence[Any], snapshot: bytes | None) -> Any:
        return TimingEngine(default_engine(specs, snapshot), specs, notes)

    mqtt = MqttSettings(
        host="127.0.0.1",
        port=args.port,
        outbox_path=args.outbox,
        client_id=f"footprint-{os.getpid()}",
    )
    service = Service(
        site=source.header.site, doors=doors, source=source, mqtt=mqtt, engine_factory=factory
    )
    started = time.process_time()
    asyncio.run(service.run(drain_timeout=60))
    cpu = time.process_time() - started
    args.notes.write_text(json.dumps({"crossings": notes, "cpu_s": cpu}))
    return 0


# -- parent: broker, subscriber, /proc sampling ------------------------------------------------


def proc_sample(pid: int) -> tuple[float, int, int]:
    """(CPU seconds user+system, RSS bytes, peak RSS bytes) of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / tick
    status = dict(
        line.split(":", 1)
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if ":" in line
    )
    return cpu, int(status["VmRSS"].split()[0]) * 1024, int(status["VmHWM"].split()[0]) * 1024


class Arrivals:
    """Subscriber stamping each crossing message with the wall clock on arrival."""

    def __init__(self, host: str, port: int) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self.at: dict[str, float] = {}
        self._lock = threading.Lock()
        ready = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="footprint-sub")
        self.client.on_connect = lambda c, *_: c.subscribe("doorcount/+/+/crossing", qos=1)
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        if not ready.wait(10):
            raise RuntimeError("subscriber could not subscribe")

    def _on_message(self, _c: object, _u: object, msg: Any) -> None:
        now = time.time()
        ident = json.loads(msg.payload)["id"]
        with self._lock:
            self.at.setdefault(ident, now)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def run_child(directory: Path, trace: Path, port: int, realtime: bool) -> dict[str, Any]:
    from tests.support.mqtt import Mosquitto

    broker = Mosquitto(directory / f"mosquitto-{int(realtime)}", port=port)
    broker.start()
    arrivals = Arrivals(broker.host, broker.port)
    notes = directory / f"notes-{int(realtime)}.json"
    command = [
        sys.executable,
        "-m",
        "benchmarks.footprint",
        "--child",
        "--trace",
        str(trace),
        "--port",
        str(port),
        "--outbox",
        str(directory / f"outbox-{int(realtime)}.db"),
        "--notes",
        str(notes),
        *(["--realtime"] if realtime else []),
    ]
    samples: list[tuple[float, float, int, int]] = []
    wall0 = time.monotonic()
    proc = subprocess.Popen(command, cwd=ROOT)  # noqa: S603 - our own module, no shell
    try:
        while proc.poll() is None:
            try:
                cpu, rss, peak = proc_sample(proc.pid)
            except (FileNotFoundError, ProcessLookupError, KeyError, IndexError):
                break
            samples.append((time.monotonic() - wall0, cpu, rss, peak))
            time.sleep(0.5)
        proc.wait()
        wall = time.monotonic() - wall0
        time.sleep(1.0)  # let the last QoS 1 messages reach the subscriber
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)
        arrivals.close()
        broker.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"gateway child exited {proc.returncode}")
    result: dict[str, Any] = json.loads(notes.read_text())
    result.update(samples=samples, wall_s=wall, arrivals=arrivals.at)
    return result


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:  # noqa: PLR0915 - a benchmark script: one linear sequence of steps
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--doors", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=5.0, help="simulated = real minutes")
    parser.add_argument("--rate", type=float, default=20.0, help="people/min per door")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--fast-minutes",
        type=float,
        default=30.0,
        help="simulated minutes for the as-fast-as-possible run (long: start-up is amortised)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--realtime", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--trace", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--outbox", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--notes", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    from rich.console import Console
    from rich.table import Table

    from gateway.protocol.trace import Tick, write_trace
    from sensor_sim.generator import generate
    from sensor_sim.scenarios import busy_site
    from tests.support.mqtt import free_port

    scenario = busy_site(f"footprint-{args.doors}", args.doors, args.rate)
    console = Console()
    with tempfile.TemporaryDirectory(prefix="footprint-") as tmp:
        directory = Path(tmp)
        header, records = generate(scenario, args.minutes * 60.0, args.seed)
        trace = directory / "site.jsonl"
        write_trace(trace, header, records)
        ticks = sum(1 for r in records if isinstance(r, Tick))
        nodes = len({r.node for r in records if isinstance(r, Tick)})
        console.print(
            f"{args.doors} doors, {nodes} nodes, {ticks} ticks in {args.minutes:g} min "
            f"({ticks / (args.minutes * 60):.1f} ticks/s); real-time run..."
        )
        live = run_child(directory, trace, free_port(), realtime=True)
        header, records = generate(scenario, args.fast_minutes * 60.0, args.seed + 1)
        long_trace = directory / "long.jsonl"
        write_trace(long_trace, header, records)
        fast_ticks = sum(1 for r in records if isinstance(r, Tick))
        del records
        console.print(f"as-fast-as-possible run: {fast_ticks} ticks, {args.fast_minutes:g} min...")
        fast = run_child(directory, long_trace, free_port(), realtime=False)

    samples = live["samples"]
    steady = [s for s in samples if s[0] >= min(30.0, live["wall_s"] / 3)]
    rss_steady = statistics.median(s[2] for s in steady) if steady else float("nan")
    peak = max(s[3] for s in samples)
    busy_part = [s for s in samples if s[0] <= args.minutes * 60.0]
    cpu_pct = (
        100.0 * (busy_part[-1][1] - busy_part[0][1]) / (busy_part[-1][0] - busy_part[0][0])
        if len(busy_part) > 1
        else float("nan")
    )
    arrived = live["arrivals"]
    end_to_end = [arrived[n["id"]] - n["rx"] for n in live["crossings"] if n["id"] in arrived]
    engine = [n["decided_at"] - n["rx"] for n in live["crossings"]]
    missing = len(live["crossings"]) - len(end_to_end)
    fast_cpu = fast["cpu_s"]
    fast_peak = max(s[3] for s in fast["samples"]) if fast["samples"] else 0

    table = Table(
        title=f"gateway footprint: {args.doors} doors, {nodes} nodes, "
        f"{args.rate:g} people/min/door, {args.minutes:g} min"
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    mib = 1024 * 1024
    rows = [
        ("ticks/s offered (real time)", f"{ticks / (args.minutes * 60):.1f}"),
        ("crossings published", f"{len(live['crossings'])}"),
        ("RSS steady (median after warm-up)", f"{rss_steady / mib:.1f} MiB"),
        ("RSS peak (VmHWM)", f"{peak / mib:.1f} MiB"),
        ("CPU, real-time run (% of one core)", f"{cpu_pct:.1f} %"),
        ("latency rx -> subscriber p50", f"{1000 * pct(end_to_end, 0.5):.0f} ms"),
        ("latency rx -> subscriber p99", f"{1000 * pct(end_to_end, 0.99):.0f} ms"),
        ("  of which engine (decided_at - rx) p50", f"{1000 * pct(engine, 0.5):.0f} ms"),
        ("  of which engine (decided_at - rx) p99", f"{1000 * pct(engine, 0.99):.0f} ms"),
        ("crossings never seen by the subscriber", f"{missing}"),
        ("service ticks/s, as fast as possible (per CPU s)", f"{fast_ticks / fast_cpu:,.0f}"),
        (
            "service, as fast as possible: wall s / RSS peak",
            f"{fast['wall_s']:.1f} s / {fast_peak / mib:.1f} MiB",
        ),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
