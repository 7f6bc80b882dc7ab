"""Helpers for the simulator tests: cached traces and per-node views of them."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from functools import cache

from gateway.trace import Record, Tick, TraceHeader, Truth
from sensor_sim.generator import generate
from sensor_sim.scenarios import Faults, Scenario, preset

NOON = 1748952000.0  # 2025-06-03T12:00:00Z, a Tuesday


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
