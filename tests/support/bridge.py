"""Shared pieces of the bridge fault and chain tests: the simulated trace they count, the
time-series servers as they drive them, and the interval messages they publish."""

from __future__ import annotations

import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from gateway.outputs.bridge.batch import Message
from gateway.outputs.mqtt.payloads import IntervalPayload, Topics
from tests.support.mqtt import Mosquitto
from tests.support.tsdb import Influx1, Victoria
from tests.support.tsdb import start_bridge as start_tsdb_bridge

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


def start_bridge(broker: Mosquitto, backend: Backend, log: Path) -> subprocess.Popen[bytes]:
    """Start `doorcount bridge` for this backend and wait for its subscription."""
    return start_tsdb_bridge(broker.port, backend.args, backend.token, log)


SHOP = Topics("doorcount", "Corner Shop")
T0 = 1_767_571_200  # Mon 2026-01-05 00:00 UTC


def interval(
    start: int = T0, entries: int = 3, exits: int = 1, revision: int = 0, door: str = "Front door"
) -> Message:
    payload = IntervalPayload(
        site="Corner Shop",
        door=door,
        start=start,
        seconds=60,
        entries=entries,
        exits=exits,
        revision=revision,
    )
    return Message(SHOP.interval(door), payload.encode(), received=start + 61.0)
