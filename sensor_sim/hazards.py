"""Doorway hazards: what real doorways add to a clean passage (docs/simulator.md, sources).

Per pass and beam (drawn independently per beam unless `blip_same`): hand/bag blips ahead of
and behind the torso's break, arm-torso gaps and reflective patches inside it. Per door: the
door leaf sweeping through the inner beam before and after a crossing, bursts of sunlight or
IR-interference flicker, door slams that shake both beams at once, and someone leaning in the
frame on one beam. Everything is in true trace time; the node samples it like any occluder.
All draws come from a stream of their own, so turning a hazard on never moves a person.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sensor_sim.scenarios import Hazards

Interval = tuple[float, float]


@dataclass(frozen=True, slots=True)
class BeamDraw:
    """One pass's hazards on one beam: blips as (offset, length) or None; cut as (pos, len)."""

    ahead: tuple[float, float] | None
    behind: tuple[float, float] | None
    cuts: tuple[tuple[float, float], ...]


def draw_pass(rng: np.random.Generator, hz: Hazards) -> tuple[BeamDraw, BeamDraw]:
    """The hazards of one pass on its first and second beam."""

    def blip(p: float, offs: tuple[float, float]) -> tuple[float, float] | None:
        if p <= 0:
            return None
        on = rng.random() < p
        off, length = float(rng.uniform(*offs)), float(rng.uniform(*hz.blip_len_s))
        return (off, length) if on else None

    out: list[BeamDraw] = []
    for k in range(2):
        if k == 1 and hz.blip_same:
            ahead, behind = out[0].ahead, out[0].behind
        else:
            ahead = blip(hz.blip_ahead_p, hz.blip_ahead_s)
            behind = blip(hz.blip_behind_p, hz.blip_behind_s)
        cuts: list[tuple[float, float]] = []
        for p, lengths in ((hz.body_gap_p, hz.body_gap_s), (hz.reflective_p, hz.reflective_s)):
            if p > 0 and rng.random() < p:
                cuts.append((float(rng.uniform(0.2, 0.8)), float(rng.uniform(*lengths))))
        out.append(BeamDraw(ahead, behind, tuple(cuts)))
    return out[0], out[1]


def apply_pass(
    draw: BeamDraw, ts: np.ndarray, broken: np.ndarray, torso: np.ndarray
) -> list[Interval]:
    """Cut gaps into `broken` (in place) inside the torso's break; return the blips to add."""
    idx = np.flatnonzero(torso)
    if len(idx) == 0:
        return []
    first, last = float(ts[idx[0]]), float(ts[idx[-1]])
    for pos, length in draw.cuts:
        mid = first + pos * (last - first)
        broken[(ts >= mid - length / 2) & (ts < mid + length / 2)] = False
    blips: list[Interval] = []
    if draw.ahead is not None:
        off, length = draw.ahead
        blips.append((first - off, first - off + length))
    if draw.behind is not None:
        off, length = draw.behind
        blips.append((last + off, last + off + length))
    return blips


def bursts(rng: np.random.Generator, per_hour: float, duration: float) -> list[Interval]:
    """Sunlight or another IR source on a receiver: 0.3-3 s of 1-15 ms dropouts."""
    out: list[Interval] = []
    n = int(rng.poisson(per_hour * duration / 3600.0))
    for t in np.sort(rng.uniform(0, max(duration - 5.0, 0.0), n)):
        x, end = float(t), float(t) + float(rng.uniform(0.3, 3.0))
        while x < end:
            dur = float(rng.uniform(0.001, 0.015))
            out.append((x, x + dur))
            x += dur + float(rng.uniform(0.008, 0.06))
    return out


def door_level(
    rng: np.random.Generator,
    hz: Hazards,
    duration: float,
    crossings: list[tuple[float, float]],
    busy: list[tuple[float, float]],
) -> tuple[list[Interval], list[Interval]]:
    """(outer, inner) broken intervals of the door's own hazards.

    `crossings` are (first, last) torso times of each counted crossing (for the door leaf);
    `busy` are spans when anyone is near the beams (nobody leans in then).
    """
    outer: list[Interval] = []
    inner: list[Interval] = []
    if hz.door_leaf_p > 0:
        for first, last in crossings:
            if rng.random() >= hz.door_leaf_p:
                continue
            # opened ahead of the walker, swung shut by the closer after them
            a = first - float(rng.uniform(0.3, 1.0))
            b = last + float(rng.uniform(1.5, 4.0))
            for at in (a, b):
                inner.append((at, at + float(rng.uniform(0.08, 0.3))))
    outer += bursts(rng, hz.flicker_per_hour, duration)
    inner += bursts(rng, hz.flicker_per_hour, duration)
    n = int(rng.poisson(hz.slams_per_hour * duration / 3600.0))
    for t in rng.uniform(0, max(duration - 5.0, 0.0), n):
        for beam in (outer, inner):
            a = float(t) + float(rng.uniform(-0.003, 0.003))
            beam.append((a, a + float(rng.uniform(0.003, 0.025))))
    n = int(rng.poisson(hz.leans_per_hour * duration / 3600.0))
    for t in np.sort(rng.uniform(0, max(duration - 70.0, 0.0), n)):
        length = float(rng.uniform(5.0, 60.0))
        t0 = float(t)
        if any(a < t0 + length + 2.0 and b > t0 - 2.0 for a, b in busy):
            continue  # someone is passing: no room to lean
        beam = outer if rng.random() < 0.5 else inner
        x = t0
        while x < t0 + length:  # shifting weight uncovers the beam now and then
            hold = float(rng.uniform(1.0, 8.0))
            beam.append((x, min(t0 + length, x + hold)))
            x += hold + float(rng.uniform(0.05, 0.4))
        busy.append((t0, t0 + length))
    return outer, inner
