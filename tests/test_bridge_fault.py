"""Acceptance: counts survive an InfluxDB outage and bridge SIGKILLs with none missing or doubled.

The gateway side is a QoS 1 publisher of the interval payloads that `doorcount eval
--crossings` counts on a simulated trace (sensor-sim, busy scenario, 3 doors), aggregated into
60 s intervals; the expected stored values are that same aggregation. (The full gateway service
in place of this publisher is the lead's integration.)
Path: publisher -> Mosquitto -> `doorcount bridge` (subprocess) -> time-series server.

Two servers, because they keep different promises:
- VictoriaMetrics through the v2 write API (as InfluxDB 2.x/3.x would be written). Its dedup
  keeps one sample per timestamp but not necessarily the last written, so corrections cannot
  be checked there; the gateway side re-sends identical intervals (an outbox replay) instead.
- InfluxDB 1.6.7 through the v1 `/write` sink: real last-write-wins, so every interval is first
  published short of its late crossings and corrected later with revision 1.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway.mqtt.payloads import IntervalPayload, Topics
from tests.fixtures_mqtt import Mosquitto
from tests.fixtures_mqtt import mosquitto as mosquitto  # noqa: PLC0414 - fixture import
from tests.fixtures_tsdb import Influx1, Victoria, influxdb1, victoria, wait_until  # noqa: F401
from tests.fixtures_tsdb import start_bridge as start_tsdb_bridge

TOKEN = "tok-fault-9f8e7d6c5b4a"


@dataclass(frozen=True)
class Trace:
    """What `doorcount eval --crossings` counted on a simulated trace."""

    path: Path
    site: str
    doors: tuple[str, ...]
    crossings: list[tuple[str, str, float]]  # (door, direction, t)

    @property
    def starts(self) -> range:
        first = int(min(t for _, _, t in self.crossings) // 60) * 60
        last = int(max(t for _, _, t in self.crossings) // 60) * 60
        return range(first, last + 60, 60)


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Trace:
    """A busy 3-door site for 20 minutes (sensor-sim), replayed by the engine (doorcount eval)."""
    folder = tmp_path_factory.mktemp("trace")
    path, out = folder / "busy.jsonl", folder / "crossings.jsonl"
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [
            bin_dir / "sensor-sim",
            "generate",
            "--scenario",
            "busy",
            "--duration",
            "20m",
            "--doors",
            "3",
            "--seed",
            "5",
            "-o",
            path,
        ],
        check=True,
    )
    subprocess.run(
        [sys.executable, "-m", "gateway.cli", "eval", path, "--crossings", out, "--json"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    header = json.loads(path.read_text().split("\n", 1)[0])
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    crossings = [(r["door"], r["direction"], float(r["t"])) for r in rows]
    assert len(crossings) > 500
    return Trace(path, header["site"], tuple(d["door"] for d in header["doors"]), crossings)


def expected(trace: Trace) -> dict[str, dict[str, dict[int, int]]]:
    """{door: {"entries"|"exits": {start_ms: count}}}, zeros included for quiet intervals."""
    counts: Counter[tuple[str, str, int]] = Counter()
    for door, direction, t in trace.crossings:
        counts[door, direction, int(t // 60) * 60] += 1
    return {
        door: {
            "entries": {s * 1000: counts[door, "in", s] for s in trace.starts},
            "exits": {s * 1000: counts[door, "out", s] for s in trace.starts},
        }
        for door in trace.doors
    }


def payloads(trace: Trace, rng: random.Random, *, corrections: bool) -> list[tuple[str, bytes]]:
    """Interval messages in publish order: revision 0, then a little later either a correction
    (revision 1; revision 0 lacked some late crossings) or an identical re-send."""
    topics = Topics("doorcount", trace.site)
    want = expected(trace)
    out: list[tuple[str, bytes]] = []
    later: list[tuple[str, bytes]] = []
    for s in trace.starts:
        for door in trace.doors:
            entries, exits = want[door]["entries"][s * 1000], want[door]["exits"][s * 1000]
            final = IntervalPayload(
                site=trace.site,
                door=door,
                start=s,
                seconds=60,
                entries=entries,
                exits=exits,
                revision=0,
            )
            first = final
            if corrections:
                late_in = rng.randint(0, entries) if rng.random() < 0.3 else 0
                final = final.model_copy(update={"revision": 1})
                first = final.model_copy(update={"entries": entries - late_in, "revision": 0})
            out.append((topics.interval(door), first.encode()))
            later.append((topics.interval(door), final.encode()))
        if len(later) >= 9:  # late ticks (or an outbox replay) come a few intervals later
            out.extend(later)
            later = []
    return out + later


class Publisher(threading.Thread):
    """The gateway side: QoS 1 publishes at a steady pace, each confirmed by the broker."""

    def __init__(self, port: int, messages: list[tuple[str, bytes]], rate: float) -> None:
        super().__init__(daemon=True)
        self.messages = messages
        self.rate = rate
        self.sent = 0
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="gateway-side")
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def run(self) -> None:
        for topic, payload in self.messages:
            self.client.publish(topic, payload, qos=1).wait_for_publish(10)
            self.sent += 1
            time.sleep(1 / self.rate)
        self.client.disconnect()
        self.client.loop_stop()


Stored = dict[str, dict[str, dict[int, int]]]


@dataclass
class Backend:
    """A time-series server as the fault test drives it."""

    server: Victoria | Influx1
    args: list[str]
    token: str
    corrections: bool

    def stored(self) -> Stored:
        out: Stored = {}
        if isinstance(self.server, Victoria):
            for field in ("entries", "exits"):
                for labels, samples in self.server.export(f"door_interval_{field}").items():
                    tags = dict(labels)
                    door = out.setdefault(tags["door"], {})
                    door[field] = {ts: int(v) for ts, v in samples.items()}
            return out
        for series in self.server.query(
            'SELECT "entries", "exits" FROM "door_interval" GROUP BY "site", "door"', db="doorcount"
        ):
            door = out.setdefault(series["tags"]["door"], {"entries": {}, "exits": {}})
            for ts, entries, exits in series["values"]:
                assert ts * 1000 not in door["entries"], "a timestamp stored twice"
                door["entries"][ts * 1000] = entries
                door["exits"][ts * 1000] = exits
        return out


@pytest.fixture(params=["victoria", "influxdb1"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "victoria":
        vm: Victoria = request.getfixturevalue("victoria")
        return Backend(vm, ["--influx-url", vm.url], TOKEN, corrections=False)
    influx: Influx1 = request.getfixturevalue("influxdb1")
    influx.create_database("doorcount")
    args = ["--influx-url", influx.url, "--influx-api", "v1", "--influx-bucket", "doorcount"]
    return Backend(influx, args, f"bridge:{TOKEN}", corrections=True)


def start_bridge(broker: Mosquitto, backend: Backend, log: Path) -> subprocess.Popen[bytes]:
    """Start `doorcount bridge` for this backend and wait for its subscription."""
    return start_tsdb_bridge(broker.port, backend.args, backend.token, log)


def differences(got: Stored, want: Stored) -> list[str]:
    out = []
    for door, fields in want.items():
        for field, samples in fields.items():
            have = got.get(door, {}).get(field, {})
            missing = sorted(set(samples) - set(have))
            wrong = [(ts, have[ts], v) for ts, v in samples.items() if ts in have and have[ts] != v]
            extra = sorted(set(have) - set(samples))
            if missing or wrong or extra:
                out.append(
                    f"{door}/{field}: {len(missing)} missing {missing[:3]}, "
                    f"{len(wrong)} wrong (ts, got, want) {wrong[:3]}, {len(extra)} extra"
                )
    return out


def test_outage_and_bridge_kills_lose_and_double_nothing(
    mosquitto: Mosquitto, backend: Backend, trace: Trace, tmp_path: Path
) -> None:
    want = expected(trace)
    messages = payloads(trace, random.Random(11), corrections=backend.corrections)
    log = tmp_path / "bridge.log"
    bridge = start_bridge(mosquitto, backend, log)
    publisher = Publisher(mosquitto.port, messages, rate=len(messages) / 6)  # spans the faults
    publisher.start()
    try:
        wait_until(lambda: publisher.sent > len(messages) // 5, what="first fifth published")
        backend.server.stop()  # outage: the bridge must hold its batch and retry
        time.sleep(1.5)
        os.kill(bridge.pid, signal.SIGKILL)  # killed during the outage, batch un-acked
        bridge.wait()
        bridge = start_bridge(mosquitto, backend, log)
        time.sleep(1.5)
        written = log.read_text().count("batch:")
        backend.server.start()  # same port and data directory
        wait_until(lambda: publisher.sent > len(messages) * 3 // 5, what="three fifths published")
        wait_until(lambda: log.read_text().count("batch:") > written, what="catching up")
        os.kill(bridge.pid, signal.SIGKILL)  # killed while catching up
        bridge.wait()
        bridge = start_bridge(mosquitto, backend, log)
        publisher.join(60)
        assert publisher.sent == len(messages)
        with contextlib.suppress(AssertionError):  # the comparison below names differences
            wait_until(lambda: backend.stored() == want, timeout=60, what="all intervals stored")
    finally:
        if bridge.poll() is None:
            bridge.send_signal(signal.SIGTERM)
            bridge.wait(20)
    assert differences(backend.stored(), want) == []
    text = log.read_text()
    assert "write of" in text  # the outage was seen and retried
    assert TOKEN not in text
