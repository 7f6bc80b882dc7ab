"""Weeks of counts for the demo site, so its forecast and weekly summary have history.

The live demo (`./dev demo`) runs minutes; a forecast needs two weeks. This writes N weeks of
interval counts for the demo's site and doors into a bridge store, the way the bridge stores
them: the mean hour-of-week shape of the real Burke-Gilman trail counts (the committed 2019
fixture), scaled, times a day-to-day level (weather, events; log-normal), split over the doors
by fixed shares, with negative-binomial noise per door and hour. Then:

    python scripts/demo_history.py --store build/demo.sqlite --weeks 8
    doorcount forecast publish --site sim-mall --store build/demo.sqlite --hours 48
    doorcount report --store build/demo.sqlite --site sim-mall --summary build/summary.png
"""

from __future__ import annotations

import argparse
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from gateway.insight.series import read_csv
from gateway.outputs.bridge.points import Point
from gateway.outputs.bridge.schema import interval_points
from gateway.outputs.bridge.store import LocalStore
from gateway.outputs.mqtt.payloads import IntervalPayload

ROOT = Path(__file__).resolve().parent.parent
PROFILE = ROOT / "tests/insight/data/burke_gilman_2019_11w.csv"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, default=ROOT / "build/demo.sqlite")
    parser.add_argument("--site", default="sim-mall")
    parser.add_argument("--doors", type=int, default=8)
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--end", default=None, help="last day (default: yesterday, UTC)")
    parser.add_argument("--scale", type=float, default=6.0, help="times the trail's counts")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    trail = read_csv(PROFILE).hourly()
    hour_of_week = np.asarray(trail.index.day_of_week) * 24 + np.asarray(trail.index.hour)
    shape = trail.groupby(hour_of_week).mean().to_numpy(float)
    end = (
        pd.Timestamp(args.end)
        if args.end
        else pd.Timestamp.now("UTC").normalize().tz_localize(None)
    )
    hours = pd.date_range(
        end=end - pd.Timedelta(hours=1), periods=args.weeks * 168, freq="h", tz="UTC"
    )
    rng = np.random.default_rng(args.seed)
    days = (hours - hours[0]).days
    level = rng.lognormal(0.0, 0.15, days.max() + 1)[days]
    rate = shape[np.asarray(hours.day_of_week) * 24 + np.asarray(hours.hour)] * level * args.scale
    shares = rng.dirichlet(np.full(args.doors, 3.0))
    points: list[Point] = []
    for number, share in enumerate(shares, start=1):
        mu = np.maximum(rate * share, 1e-9)
        entries = rng.negative_binomial(8, 8 / (8 + mu))
        exits = rng.negative_binomial(8, 8 / (8 + mu))
        for t, e, x in zip(hours, entries, exits, strict=True):
            payload = IntervalPayload(
                site=args.site,
                door=f"door{number}",
                start=int(t.timestamp()),
                seconds=3600,
                entries=int(e),
                exits=int(x),
                revision=0,
            )
            points += interval_points(payload, ZoneInfo("UTC"))
    args.store.parent.mkdir(parents=True, exist_ok=True)
    store = LocalStore(args.store)
    store.write(points)
    store.close()
    print(f"wrote {len(hours)} hours x {args.doors} doors of {args.site} to {args.store}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
