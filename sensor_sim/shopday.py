"""The `shop-day` site: who comes through which door of a small shop, from 06:00 to 22:00.

A shop floor with an upper floor reached by stairs; a public entrance, a staff door at the
back, a beam pair on the stairs and one along the pavement in front of the window. Opening
hours 09:00-19:00 (grace 15 min before and after). The day is a script of visits rather than
independent arrivals, so the truth of every zone's occupancy is consistent: whoever comes in
leaves again, by the stairs down before the entrance out.

- visitors arrive 09:00-18:45 (about 1/min, peaks at lunch and after work), stay 3-60 min,
  a third of them go upstairs for a while; the last leave by 19:10;
- two staff shifts of four (08:00-14:00 and 13:00-19:30, +-10 min): most use the staff door,
  a quarter the entrance; half take a 20-40 min break out by the staff door;
- deliveries at the staff door before opening; a cleaner in the early morning and the evening
  through the entrance; passers-by along the frontage 07:00-21:00, both ways.

Every random choice comes from the generator's seeded stream. Times here are seconds since
the local midnight of the trace's start date in `TIMEZONE`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from gateway.protocol.trace import Who
from sensor_sim.scenarios import Visits
from sensor_sim.traffic import Scripted
from sensor_sim.visits import PlannedVisit

TIMEZONE = "UTC"
DOORS = ("entrance", "back", "stairs", "frontage")
H = 3600.0
OPEN, CLOSE = 9 * H, 19 * H
GRACE_MIN = 15
START_HOUR = 6  # the trace's default start, local time

LAYOUT: dict[str, Any] = {
    "zones": [{"name": "floor"}, {"name": "upstairs"}],
    "doors": [
        {"name": "entrance", "role": "entrance", "inner_zone": "floor"},
        {"name": "back", "role": "staff", "inner_zone": "floor"},
        {"name": "stairs", "role": "internal", "outer_zone": "floor", "inner_zone": "upstairs"},
        {"name": "frontage", "role": "perimeter"},
    ],
    "hours": {
        "timezone": TIMEZONE,
        "grace_before_min": GRACE_MIN,
        "grace_after_min": GRACE_MIN,
        **{day: ["09:00-19:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat")},
    },
}
"""The site as the gateway config (and the trace header's `layout`) describes it."""

_Moves = dict[str, list[tuple[float, int, Who, int | None]]]

VISITS = Visits(
    dwell_median_s=15 * 60.0, dwell_sigma=0.6, dwell_range_s=(3 * 60.0, 60 * 60.0), buy_share=0.3
)
"""Visitors stay lognormal 15 min (log-sd 0.6, 3-60 min); 30% buy. An assumption, like the
simulator's defaults (docs/simulator.md): a plausible small shop, not a measured one."""


def _visitor_rate(hour: np.ndarray) -> np.ndarray:
    """Visitor arrivals per second by local hour: ~0.7/min, peaks at 12:30 and 17:30."""
    lunch = np.exp(-(((hour - 12.5) / 1.2) ** 2))
    evening = np.exp(-(((hour - 17.5) / 1.0) ** 2))
    return (0.7 + 0.8 * lunch + 1.0 * evening) / 60.0


def _visitors(
    rng: np.random.Generator, moves: _Moves, visits: list[PlannedVisit], v: Visits
) -> None:
    bound = 2.5 / 60.0
    n = int(rng.poisson(bound * (CLOSE - 15 * 60 - OPEN)))
    times = np.sort(rng.uniform(OPEN, CLOSE - 15 * 60, n))
    keep = rng.random(n) * bound < _visitor_rate(times / H)
    lo, hi = v.dwell_range_s
    for arrive in times[keep]:
        stay = float(np.clip(rng.lognormal(np.log(v.dwell_median_s), v.dwell_sigma), lo, hi))
        leave = min(arrive + stay, CLOSE + float(rng.uniform(0, 10 * 60)))
        index = len(visits)
        visits.append(PlannedVisit(float(arrive), leave - float(arrive), None, "single"))
        moves["entrance"].append((float(arrive), 1, "visitor", index))
        moves["entrance"].append((leave, -1, "visitor", index))
        span = leave - arrive
        if rng.random() < 1 / 3 and span > 4 * 60:
            up = arrive + float(rng.uniform(0.1, 0.4)) * span
            down = up + float(rng.uniform(0.2, 0.5)) * span
            moves["stairs"].append((up, 1, "visitor", None))
            moves["stairs"].append((min(down, leave - 60), -1, "visitor", None))


def _staff(rng: np.random.Generator, moves: _Moves) -> None:
    for start, end in [(8 * H, 14 * H)] * 4 + [(13 * H, 19.5 * H)] * 4:
        come = start + float(rng.uniform(-600, 600))
        go = end + float(rng.uniform(-600, 600))
        door_in = "back" if rng.random() < 0.75 else "entrance"
        door_out = "back" if rng.random() < 0.75 else "entrance"
        moves[door_in].append((come, 1, "staff", None))
        moves[door_out].append((go, -1, "staff", None))
        if rng.random() < 0.5:
            away = come + (go - come) * float(rng.uniform(0.4, 0.6))
            moves["back"].append((away, -1, "staff", None))
            moves["back"].append((away + float(rng.uniform(20, 40)) * 60, 1, "staff", None))


def _deliveries_and_cleaning(rng: np.random.Generator, moves: _Moves) -> None:
    for at in (7.25 * H, 8.3 * H):
        come = at + float(rng.uniform(-300, 300))
        for _ in range(int(rng.integers(1, 3))):  # a driver, sometimes with a mate
            come += float(rng.uniform(5, 20))
            moves["back"].append((come, 1, "delivery", None))
            moves["back"].append((come + float(rng.uniform(3, 8)) * 60, -1, "delivery", None))
    for come, go in ((6.5 * H, 8.0 * H), (20.0 * H, 21.5 * H)):
        moves["entrance"].append((come + float(rng.uniform(0, 300)), 1, "cleaner", None))
        moves["entrance"].append((go + float(rng.uniform(-300, 0)), -1, "cleaner", None))


def _passers_by(rng: np.random.Generator, moves: _Moves) -> None:
    start, end, per_s = 7 * H, 21 * H, 3.0 / 60.0
    n = int(rng.poisson(per_s * (end - start)))
    for at in np.sort(rng.uniform(start, end, n)):
        moves["frontage"].append((float(at), 1 if rng.random() < 0.5 else -1, "passerby", None))


def script(
    rng: np.random.Generator, since_midnight: float, duration: float, v: Visits = VISITS
) -> tuple[dict[str, Scripted], dict[str, list[PlannedVisit]]]:
    """Each door's arrivals, seconds since the trace's start, in time order, and the visits
    (by entry door) that the arrivals' visit indices point into, on the same clock.

    Arrivals outside [0, duration - 60 s) are left out (a trace that does not cover the day
    does not see them); whoever the trace sees come in, it sees leave, only when it covers
    06:30-21:30.
    """
    moves: _Moves = {door: [] for door in DOORS}
    visits: list[PlannedVisit] = []
    _visitors(rng, moves, visits, v)
    _staff(rng, moves)
    _deliveries_and_cleaning(rng, moves)
    _passers_by(rng, moves)
    out: dict[str, Scripted] = {}
    for door, items in moves.items():
        shifted = [(t - since_midnight, sign, who, visit) for t, sign, who, visit in items]
        out[door] = sorted(
            (a for a in shifted if 0 <= a[0] < duration - 60), key=lambda a: (a[0], a[1])
        )
    planned = [replace(p, t_in=p.t_in - since_midnight) for p in visits]
    return out, {"entrance": planned}


# -- staff badges ----------------------------------------------------------------------------

BADGE_SHARE = 0.85
"""Share of staff crossings with the badge worn (the rest: forgotten, in a bag, flat)."""
BADGE_DOORS = ("entrance", "back")
"""Doors whose node listens for badges (the stairs and the frontage beam do not)."""
ADVERT_S = 0.25
"""A badge advertises four times a second (~1 year on a CR2032, firmware_notes/power.md)."""
ADV_DELAY_S = 0.010
"""BLE adds a pseudo-random 0-10 ms `advDelay` to every advertising interval (Bluetooth Core
spec, Vol 6 Part B, 4.4.2.2.1), so a badge's phase drifts against the node's scan."""
SCAN_INTERVAL_S = 0.100
SCAN_WINDOW_S = 0.100
"""The node's badge scan (firmware `ble.py`): continuous, one channel per 100 ms. An
advertising event is heard only when it falls inside a scan window: at the earlier 30 ms of
every 100 ms, a 4 Hz badge (255 ms mean, 55 ms phase step) went unheard through a whole 1 s
beam window in about a quarter of crossings."""
RX_P = 0.9
"""An advertisement sent while the node scans is received: the node's own connection events
take the radio a few % of the time, plus collisions (an assumption)."""
WALK_M_S = 1.3
PASSES_PER_H = 6.0
"""Badge wearers passing within a few metres of a listening door without crossing it,
per door and hour, 08:00-19:30."""


def _rssi(rng: np.random.Generator, metres: np.ndarray) -> np.ndarray:
    """Log-distance path loss: -50 dBm at 1 m, exponent 2, 4 dB shadowing."""
    d = np.maximum(metres, 0.3)
    rssi: np.ndarray = np.round(-50.0 - 20.0 * np.log10(d) + rng.normal(0.0, 4.0, d.shape))
    return rssi.astype(int)


def adverts(
    rng: np.random.Generator,
    t0: float,
    t1: float,
    scan: tuple[float, float] = (SCAN_INTERVAL_S, SCAN_WINDOW_S),
) -> np.ndarray:
    """Times in [t0, t1) at which the node hears a badge's advertisements: the badge's
    events (interval plus advDelay) that fall inside the node's scan windows `(interval,
    window)` and are received."""
    n = int((t1 - t0) / ADVERT_S) + 2
    steps = ADVERT_S + rng.uniform(0.0, ADV_DELAY_S, n)
    times = t0 + float(rng.uniform(0, ADVERT_S)) + np.cumsum(steps) - steps[0]
    times = times[times < t1]
    interval, window = scan
    phase = float(rng.uniform(0, interval))
    inside = np.mod(times - phase, interval) < window
    heard: np.ndarray = times[inside & (rng.random(times.size) < RX_P)]
    return heard


Sighting = tuple[float, int, int]
"""(time, RSSI, badge): one advertisement the node heard; `badge` tells apart the badges
that can be near the door at once (a different number per crossing and per pass)."""


def badge_sightings(
    rng: np.random.Generator, crossings: list[tuple[float, bool]]
) -> list[Sighting]:
    """Every advertisement a door's node hears from badges worn through it: `crossings` are
    (truth time, badge worn) of its staff crossings, seconds since the start."""
    out: list[Sighting] = []
    for badge, (t, worn) in enumerate(crossings):
        if not worn:
            continue
        times = adverts(rng, t - 6.0, t + 3.0)
        rssi = _rssi(rng, 0.4 + WALK_M_S * np.abs(times - t))
        out.extend((s, r, badge) for s, r in zip(times.tolist(), rssi.tolist(), strict=True))
    return out


def badge_passes(
    rng: np.random.Generator, since_midnight: float, duration: float
) -> list[Sighting]:
    """Advertisements a door's node hears from badges passing near it, nobody crossing."""
    lo, hi = 8 * H - since_midnight, 19.5 * H - since_midnight
    lo, hi = max(lo, 0.0), min(hi, duration - 60)
    if hi <= lo:
        return []
    out: list[Sighting] = []
    passes = rng.uniform(lo, hi, int(rng.poisson(PASSES_PER_H * (hi - lo) / H)))
    for n, at in enumerate(passes):
        closest = float(rng.uniform(0.5, 4.0))
        times = adverts(rng, float(at) - 4.0, float(at) + 4.0)
        metres = np.hypot(closest, WALK_M_S * (times - float(at)))
        badge = -1 - n  # crossings count up from 0
        rssi = _rssi(rng, metres).tolist()
        out.extend((t, r, badge) for t, r in zip(times.tolist(), rssi, strict=True))
    return out
