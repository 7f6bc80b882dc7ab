"""Fixtures of the tests of `insight`: simulated footfall, CSV writers, the real-data fixture."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

DATA = Path(__file__).resolve().parent / "data"
WEEKDAY_SHAPE = np.array([1.0, 0.95, 1.0, 1.05, 1.2, 1.6, 1.3])

DailyPair = Callable[..., tuple[pd.Series, pd.Series]]


@pytest.fixture
def daily_pair() -> DailyPair:
    """Two periods of over-dispersed daily counts (NB2) with a weekday shape: A for `days`
    days, then B for `days` days at (1 + change) times A's level."""

    def make(
        seed: int, change: float = 0.0, days: int = 28, mean: float = 300.0, alpha: float = 0.03
    ) -> tuple[pd.Series, pd.Series]:
        rng = np.random.default_rng(seed)
        index = pd.date_range("2026-01-05", periods=2 * days, freq="D")
        level = mean * WEEKDAY_SHAPE[index.day_of_week]
        level = level * np.r_[np.ones(days), np.full(days, 1 + change)]
        n = 1 / alpha
        counts = pd.Series(rng.negative_binomial(n, n / (n + level)).astype(float), index=index)
        return counts.iloc[:days], counts.iloc[days:]

    return make


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[[str, str], Path]:
    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def hourly_csv(tmp_path: Path) -> Callable[..., Path]:
    """A `time,count` CSV of simulated hourly footfall (open 08-20, busier at weekends)."""

    def write(
        name: str = "hourly.csv", weeks: int = 6, seed: int = 1, start: str = "2026-01-05"
    ) -> Path:
        rng = np.random.default_rng(seed)
        index = pd.date_range(start, periods=weeks * 168, freq="h")
        hour = np.asarray(index.hour)
        open_ = (hour >= 8) & (hour < 20)
        shape = np.where(open_, 20 * np.sin(np.pi * (hour - 8) / 12) + 5, 0.0)
        level = shape * WEEKDAY_SHAPE[index.day_of_week]
        counts = rng.negative_binomial(10, 10 / (10 + np.maximum(level, 1e-9)))
        counts = np.where(open_, counts, 0)
        path = tmp_path / name
        frame = pd.DataFrame({"time": index.strftime("%Y-%m-%dT%H:%M"), "count": counts})
        frame.to_csv(path, index=False)
        return path

    return write


@pytest.fixture
def trail_csv() -> Path:
    """Eleven weeks of real hourly pedestrian counts (Burke-Gilman trail, 2019; made by
    scripts/burke_gilman.py --fixture from shared/data)."""
    return DATA / "burke_gilman_2019_11w.csv"


def fill_store(
    path: Path,
    *,
    site: str = "Corner Shop",
    doors: dict[str, float] | None = None,
    weeks: int = 8,
    start: str = "2026-01-05",
    seed: int = 3,
    seconds: int = 900,
    split: bool = False,
    zones: dict[str, float] | None = None,
) -> Path:
    """A bridge store of simulated interval counts (NB around a weekday x hour shape), as the
    bridge writes them (door_interval + hour_of_week points). `doors` maps a door to its share
    of the traffic; a door may start later (its share is applied from its first week).
    `split`: with the visitor split (a tenth of the entries are staff) and the site's `visits`
    (occupancy-seconds: each entry stays about an interval); `zones` maps a zone to its share
    of the site's visits."""
    from zoneinfo import ZoneInfo

    from gateway.outputs.bridge.points import Point
    from gateway.outputs.bridge.schema import interval_points, visits_point
    from gateway.outputs.bridge.store import LocalStore
    from gateway.outputs.mqtt.payloads import IntervalPayload, VisitsPayload

    doors = doors or {"Front door": 0.7, "Back": 0.3}
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=weeks * 7 * 86400 // seconds, freq=f"{seconds}s", tz="UTC")
    hour = np.asarray(index.hour) + np.asarray(index.minute) / 60
    open_ = (hour >= 8) & (hour < 20)
    per_hour = np.where(open_, 40 * np.sin(np.pi * (hour - 8) / 12) + 8, 0.0)
    level = per_hour * WEEKDAY_SHAPE[index.day_of_week] * seconds / 3600
    store = LocalStore(path)
    points: list[Point] = []
    came = np.zeros(len(index), dtype=int)
    for door, share in doors.items():
        mu = np.maximum(level * share, 1e-9)
        entries = np.where(open_, rng.negative_binomial(5, 5 / (5 + mu)), 0)
        exits = np.where(open_, rng.negative_binomial(5, 5 / (5 + mu)), 0)
        came += entries
        for t, e, x in zip(index, entries, exits, strict=True):
            staff = int(e) // 10 if split else 0
            audience = (
                {
                    "visitors_in": int(e) - staff,
                    "visitors_out": int(x),
                    "staff_in": staff,
                    "staff_out": 0,
                    "out_of_hours_in": 0,
                    "out_of_hours_out": 0,
                    "passersby_in": 0,
                    "passersby_out": 0,
                }
                if split
                else {}
            )
            payload = IntervalPayload(
                site=site,
                door=door,
                start=int(t.timestamp()),
                seconds=seconds,
                entries=int(e),
                exits=int(x),
                revision=0,
                **audience,
            )
            points += interval_points(payload, ZoneInfo("UTC"))
    if split:
        areas: list[tuple[str | None, float]] = [(None, 1.0), *(zones or {}).items()]
        for zone, share in areas:
            for t, n in zip(index, came, strict=True):
                inside = share * n * rng.uniform(0.8, 1.2)
                visits = VisitsPayload(
                    site=site,
                    zone=zone,
                    start=int(t.timestamp()),
                    seconds=seconds,
                    occupancy_seconds=inside * seconds,
                    entries=round(share * n),
                    exits=round(share * n),
                    corrected=0,
                    inside_end=round(inside),
                    capture_rate=None,
                    visitors_in=round(share * n * 0.9),
                )
                points.append(visits_point(visits))
    store.write(points)
    store.close()
    return path
