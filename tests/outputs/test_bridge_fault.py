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
import os
import random
import signal
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from gateway.outputs.mqtt.payloads import IntervalPayload, Topics
from tests.support.bridge import TOKEN, Backend, Stored, Trace, expected, start_bridge
from tests.support.mqtt import Mosquitto
from tests.support.tsdb import wait_until


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
