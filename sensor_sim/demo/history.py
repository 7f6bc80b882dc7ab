"""Weeks of simulated history before the live demo, so its forecast has what it needs.

The live demo counts minutes; the hour-of-week forecast needs two weeks and uses eight. This
writes those weeks into the demo's store the way the bridge stores them (per door and hour:
`door_interval` + `hour_of_week` with the visitor split; per hour: the site's `visits` with its
occupancy-seconds), ending where the live counts begin, from a simpler simulation than the live
one: people arrive at each door at the rate the live traffic follows (the scenario's rate on
the real hour-of-week profile, sensor_sim/data/profile.json), times a day-to-day level
(log-normal, weather and events), stay a log-normal while (the scenario's visit lengths) and
leave by any door. No beams, no engine: the history is labelled simulated and not counted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np

from gateway.errors import DoorcountError
from gateway.outputs.bridge.points import Point
from gateway.outputs.bridge.schema import DOOR_INTERVAL, interval_points, visits_point
from gateway.outputs.bridge.store import LocalStore
from gateway.outputs.mqtt.payloads import IntervalPayload, VisitsPayload
from sensor_sim import profile as profile_mod

if TYPE_CHECKING:
    from sensor_sim.scenarios import Scenario

HOUR = 3600
DAY_LEVEL_SD = 0.15
"""Log-sd of the day-to-day level: busier and quieter days than the hour of the week says."""


@dataclass(frozen=True, slots=True)
class History:
    weeks: int
    start: int  # unix seconds, first hour written
    end: int  # unix seconds, where the live counts begin
    entries: int
    exits: int
    points: int


def live_start(store: LocalStore) -> int | None:
    """Start of the first interval the live demo stored (None when it stored none)."""
    span = store.span(DOOR_INTERVAL)
    return None if span is None else span[0] // 1_000_000_000


def backfill(
    store: LocalStore,
    site: str,
    doors: Sequence[str],
    *,
    end: int,
    weeks: int,
    rate_per_min: float,
    profile: bool,
    dwell_median_s: float = 720.0,
    dwell_sigma: float = 0.7,
    dwell_range_s: tuple[float, float] = (30.0, 4 * 3600.0),
    seed: int = 1,
) -> History:
    """Write `weeks` weeks of hourly counts of `doors` ending at `end` (Unix seconds; the last
    part-hour before it is one shorter interval, so the hour the live counts begin in is
    whole). `rate_per_min` is arrivals in per door at the busiest hour (with `profile`) or
    all along (without)."""
    rng = np.random.default_rng([seed, 16])
    first = (end // HOUR - weeks * 168) * HOUR
    starts = np.arange(first, end, HOUR, dtype=np.int64)
    seconds = np.minimum(end - starts, HOUR)
    mid = starts + seconds / 2
    shape = _shape(mid, first, profile)
    days = (starts - first) // 86400
    level = rng.lognormal(0.0, DAY_LEVEL_SD, int(days.max()) + 1)[days]
    rate = rate_per_min * 60 * len(doors) * shape * level * seconds / HOUR
    arrivals = rng.poisson(rate)
    n = int(arrivals.sum())
    hour_of = np.repeat(np.arange(len(starts)), arrivals)
    t_in = starts[hour_of] + rng.random(n) * seconds[hour_of]
    low, high = dwell_range_s
    stay = np.clip(rng.lognormal(math.log(dwell_median_s), dwell_sigma, n), low, high)
    t_out = t_in + stay
    door_in = rng.integers(len(doors), size=n)
    door_out = rng.integers(len(doors), size=n)
    left = t_out < end  # the rest are still inside when the live demo starts: not counted out
    h_in = hour_of
    h_out = ((t_out[left] - first) // HOUR).astype(np.int64)
    hours, width = len(starts), len(doors)
    entries = np.bincount(h_in * width + door_in, minlength=hours * width).reshape(hours, width)
    exits = np.bincount(h_out * width + door_out[left], minlength=hours * width).reshape(
        hours, width
    )
    occupancy = _person_seconds(t_in, np.minimum(t_out, end), starts, first)
    inside_end = np.cumsum(entries.sum(axis=1)) - np.cumsum(exits.sum(axis=1))
    points: list[Point] = []
    utc = ZoneInfo("UTC")
    for k, start in enumerate(starts.tolist()):
        for d, door in enumerate(doors):
            e, x = int(entries[k, d]), int(exits[k, d])
            points += interval_points(
                IntervalPayload(
                    site=site,
                    door=door,
                    start=start,
                    seconds=int(seconds[k]),
                    entries=e,
                    exits=x,
                    revision=0,
                    visitors_in=e,
                    visitors_out=x,
                    staff_in=0,
                    staff_out=0,
                    out_of_hours_in=0,
                    out_of_hours_out=0,
                    passersby_in=0,
                    passersby_out=0,
                ),
                utc,
            )
        came, went = int(entries[k].sum()), int(exits[k].sum())
        points.append(
            visits_point(
                VisitsPayload(
                    site=site,
                    zone=None,
                    start=start,
                    seconds=int(seconds[k]),
                    occupancy_seconds=float(occupancy[k]),
                    entries=came,
                    exits=went,
                    corrected=0,
                    inside_end=int(inside_end[k]),
                    capture_rate=None,
                    visitors_in=came,
                    visitors_out=went,
                    staff_in=0,
                    staff_out=0,
                    out_of_hours_in=0,
                    out_of_hours_out=0,
                    passersby_in=0,
                    passersby_out=0,
                )
            )
        )
    store.write(points)
    return History(weeks, first, end, n, int(left.sum()), len(points))


def _shape(t: np.ndarray, first: int, profile: bool) -> np.ndarray:
    """The live traffic's rate shape at Unix times `t`: the real profile's in-direction (as
    the generator reads it), or flat."""
    if not profile:
        return np.ones(len(t))
    start = datetime.fromtimestamp(first, UTC)
    shape = profile_mod.shape(profile_mod.load(), "north", start, np.asarray(t - first, float))
    return np.asarray(shape, dtype=float)


def _person_seconds(
    t_in: np.ndarray, t_out: np.ndarray, starts: np.ndarray, first: int
) -> np.ndarray:
    """Seconds each hour spent inside, summed over people (a stay spans a few hours)."""
    total = np.zeros(len(starts))
    hour = ((t_in - first) // HOUR).astype(np.int64)
    last = ((t_out - first) // HOUR).astype(np.int64)
    for step in range(int((last - hour).max(initial=0)) + 1):
        k = hour + step
        ok = k < len(starts)
        begin = first + k[ok] * HOUR
        overlap = np.minimum(t_out[ok], begin + HOUR) - np.maximum(t_in[ok], begin)
        total += np.bincount(k[ok], np.maximum(overlap, 0.0), minlength=len(starts))
    return total


def add_history(
    store_path: Path, site: str, doors: Sequence[str], scenario: Scenario, *, weeks: int, seed: int
) -> list[str]:
    """Backfill `weeks` before the live counts in the demo's store, then run the forecast job
    on it (store only, no MQTT): `doorcount report` then shows the forecast band. Returns
    the lines for the demo's summary."""
    from gateway.insight.publish import run_once
    from gateway.outputs.bridge.settings import load_settings
    from sensor_sim.scenarios import Visits

    store = LocalStore(store_path)
    try:
        end = live_start(store)
        if end is None:
            return ["history: none written (the live demo stored no counts to join)"]
        visits = Visits()
        traffic = scenario.traffic
        made = backfill(
            store,
            site,
            doors,
            end=end,
            weeks=weeks,
            rate_per_min=traffic.rate_per_min * (1.0 if traffic.profile else traffic.in_share),
            profile=traffic.profile,
            dwell_median_s=visits.dwell_median_s,
            dwell_sigma=visits.dwell_sigma,
            dwell_range_s=visits.dwell_range_s,
            seed=seed,
        )
    finally:
        store.close()
    first = datetime.fromtimestamp(made.start, UTC).date()
    lines = [
        f"history: {weeks} simulated weeks before the live counts ({first} on, "
        f"{made.entries:,} entries, {made.exits:,} exits; simulated, not counted)"
    ]
    settings = load_settings(store_path=store_path, influx_url=None)
    try:
        published = run_once(settings, site, store=store_path, mqtt=False, now=end)
    except DoorcountError as exc:
        return [*lines, f"forecast: none ({exc})"]
    lines.append(
        f"forecast: {published.hours} h of entries, visitors and occupancy for the site and "
        f"{len(published.doors)} doors, stored for the report"
    )
    return lines
