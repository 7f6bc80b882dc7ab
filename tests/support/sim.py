"""Helpers for the simulator tests: cached traces and per-node views of them."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from functools import cache

import numpy as np

from gateway.protocol.trace import Record, Tick, TraceHeader, Truth
from sensor_sim.generator import generate
from sensor_sim.physics import occlusion
from sensor_sim.scenarios import Faults, Scenario, Traffic, preset
from sensor_sim.traffic import DoorTraffic, Geometry, Person

NOON = 1748952000.0  # 2025-06-03T12:00:00Z, a Tuesday

Party = list[Person]


@cache
def trace(name: str, duration: float, seed: int = 1) -> tuple[TraceHeader, tuple[Record, ...]]:
    header, records = generate(name, duration, seed, NOON)
    return header, tuple(records)


def ticks(records: tuple[Record, ...] | list[Record]) -> list[Tick]:
    return [r for r in records if isinstance(r, Tick)]


def truths(records: tuple[Record, ...] | list[Record]) -> list[Truth]:
    return [r for r in records if isinstance(r, Truth)]


def by_stream(records: tuple[Record, ...] | list[Record]) -> dict[tuple[str, int], list[Tick]]:
    """Ticks per (node, boot), in arrival (rx) order."""
    out: dict[tuple[str, int], list[Tick]] = defaultdict(list)
    for t in ticks(records):
        out[(t.node, t.boot)].append(t)
    return out


def sparse_single_file(people: int, spacing: float, in_share: float) -> Scenario:
    """The tests' custom scenario: N single walkers, no faults, a perfect link."""
    s = preset("clean")
    return replace(
        s,
        traffic=replace(s.traffic, count=people, in_share=in_share, swing_share=0.6, bag_share=0.3),
        doors=replace(s.doors, spacing_m=(spacing, spacing)),
        faults=Faults(),
    )


def plan(traffic: Traffic, geometry: Geometry, duration: float, seed: int) -> list[Party]:
    """One door's parties, as the generator would place them (no rate profile)."""
    return list(DoorTraffic(np.random.default_rng(seed), traffic, geometry, duration).plan(None))


def beam_windows(p: Person, geometry: Geometry) -> tuple[float, float] | None:
    """From the first to the last instant anything of `p` breaks either beam (0.5 ms grid)."""
    ts = np.arange(p.traj.t0, p.traj.t1, 0.0005)
    hit = np.zeros(len(ts), dtype=bool)
    for inner in (False, True):
        broken, _ = occlusion(p.traj, p.body, geometry.beam_x(inner, p.lateral), ts)
        hit |= broken
    if not hit.any():
        return None
    idx = np.flatnonzero(hit)
    return float(ts[idx[0]]), float(ts[idx[-1]])
