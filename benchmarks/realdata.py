"""Occupancy-seconds and Little's-law visit length on real directional counts.

    python -m benchmarks.realdata [CSV] [--markdown]

Reads the Seattle DOT Burke-Gilman trail counter (hourly pedestrians per direction; see
/work/shared/data/README.md), keeps the healthy years (2014-2016, 2019) and the days without
a blank hour, and treats each day as a site: "Ped North" enter the stretch north of the
counter, "Ped South" leave it (`--in south`: the other way round). Within an hour the
crossings are spread evenly (the data has no finer times). Per day it measures the closing
residual (north - south), how often the raw level would go below zero (the zero floor's
corrections), the level after spreading the residual (`balanced_day`: never negative by
construction), and the mean time people spend past the counter, raw and balanced. A trail is
not a shop: people walk in from both ends and out-and-back walkers close the day only roughly,
which is what the residual figures show. Not a test: the figures are printed and copied into
docs/visits.md by hand.
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from gateway.insight.visits import Passage, balanced_day, mean_visit, occupancy_intervals

DEFAULT_CSV = (
    Path("/work/shared/data/burke_gilman")
    / "Burke_Gilman_Trail_north_of_NE_70th_St_Bike_and_Ped_Counter.csv"
)
HEALTHY_YEARS = (2014, 2015, 2016, 2019)


def days(path: Path) -> dict[str, list[tuple[int, int, int]]]:
    """{day: [(hour start as fixed-offset Unix seconds, north, south)]} for complete days."""
    out: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    blank: set[str] = set()
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            # The counter's fixed 24-hour days carry no zone: read them as UTC on purpose.
            stamp = datetime.strptime(row["Date"], "%m/%d/%Y %I:%M:%S %p").replace(tzinfo=UTC)
            if stamp.year not in HEALTHY_YEARS:
                continue
            day = stamp.date().isoformat()
            north, south = row["Ped North"].strip(), row["Ped South"].strip()
            if not north or not south:
                blank.add(day)
                continue
            out[day].append((int(stamp.timestamp()), int(north), int(south)))
    return {d: sorted(h) for d, h in out.items() if d not in blank and len(h) == 24}


def passages(hours: list[tuple[int, int, int]], inward: str) -> list[Passage]:
    ps: list[Passage] = []
    for start, a, b in hours:
        north, south = (a, b) if inward == "north" else (b, a)
        ps += [Passage(start + (k + 0.5) * 3600 / north, "in") for k in range(north)]
        ps += [Passage(start + (k + 0.5) * 3600 / south, "out") for k in range(south)]
    return ps


def _spread(minutes: list[float]) -> str:
    q1, q2, q3 = np.quantile(minutes, [0.25, 0.5, 0.75])
    return f"{q2:.0f} min ({q1:.0f}-{q3:.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv", nargs="?", type=Path, default=DEFAULT_CSV)
    parser.add_argument(
        "--in", dest="inward", choices=("north", "south"), default="north", help="'in' direction"
    )
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    table = days(args.csv)
    residual_share, corrections, raw_mean, balanced_mean, raw_negative = [], [], [], [], 0
    crossings, occupancy_s, min_level = [], [], []
    for hours in table.values():
        start = hours[0][0]
        ps = passages(hours, args.inward)
        rows = occupancy_intervals(ps, start, start + 86400, 3600)
        raw = mean_visit(rows)
        day = balanced_day(ps, start, start + 86400)
        total = day.entries + day.exits
        crossings.append(total)
        residual_share.append(abs(day.residual) / total if total else 0.0)
        corrections.append(sum(r.corrected for r in rows))
        net = np.cumsum([n - s for _, n, s in hours]) * (1 if args.inward == "north" else -1)
        raw_negative += int(net.min() < 0)
        min_level.append(min(min(r.inside_start, r.inside_end) for r in rows))
        occupancy_s.append(day.occupancy_s)
        if raw.mean_s is not None:
            raw_mean.append(raw.mean_s / 60)
        if day.mean_s is not None:
            balanced_mean.append(day.mean_s / 60)
    share = np.asarray(residual_share)
    side = "north" if args.inward == "north" else "south"
    figures = [
        ("'in' = walking", args.inward + f"bound (into the stretch {side} of the counter)"),
        ("complete days (2014-2016, 2019)", f"{len(table)}"),
        ("pedestrian crossings per day, median", f"{np.median(crossings):.0f}"),
        (
            "closing residual abs(north - south) / crossings: median, p90",
            f"{100 * np.median(share):.1f}%, {100 * np.quantile(share, 0.9):.1f}%",
        ),
        (
            "days closing within 5% / 10%",
            f"{np.mean(share < 0.05):.0%} / {np.mean(share < 0.10):.0%}",
        ),
        (
            "days whose raw hourly net goes below zero",
            f"{raw_negative} ({raw_negative / len(table):.0%})",
        ),
        (
            "zero-floor corrections per day, median (max)",
            f"{np.median(corrections):.0f} ({max(corrections)})",
        ),
        ("lowest level after correction, any day", f"{min(min_level)}"),
        ("occupancy person-hours per day, median", f"{np.median(occupancy_s) / 3600:.0f}"),
        ("mean time past the counter, raw Little (median day, IQR)", _spread(raw_mean)),
        ("mean time past the counter, balanced (median day, IQR)", _spread(balanced_mean)),
    ]
    if args.markdown:
        print("| figure | value |\n|---|---|")
        for name, value in figures:
            print(f"| {name} | {value} |")
        return
    from rich.console import Console
    from rich.table import Table

    out = Table(title="Burke-Gilman trail as a site: occupancy-seconds and Little's law")
    out.add_column("figure")
    out.add_column("value", justify="right")
    for name, value in figures:
        out.add_row(name, value)
    Console().print(out)


if __name__ == "__main__":
    main()
