"""Prepare the real Burke-Gilman trail counts for the forecast backtest, with a quality check.

Reads the Seattle DOT hourly counter export (shared/data/burke_gilman, see its README), checks
each year (impossible spikes, one direction far above the other: a sensor fault) and writes
`time,count` CSVs (pedestrians, both directions) of the healthy years to --out. Faulty years
are reported and skipped. The counter's day is 24 fixed rows that ignore daylight saving time:
the row of the non-existent 02:00 on spring-forward day is blank and is written as 0 (nobody
passes in an hour that does not exist); any other blank hour splits the year and only its
longest complete stretch is written.

    python scripts/burke_gilman.py --out build/burke_gilman
    doorcount forecast backtest --series build/burke_gilman/ped-2019.csv

`--fixture` also writes the small committed test fixture (11 weeks of 2019).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from gateway.insight.quality import check

ROOT = Path(__file__).resolve().parent.parent
NAME = "Burke_Gilman_Trail_north_of_NE_70th_St_Bike_and_Ped_Counter.csv"
CANDIDATES = [
    ROOT.parent / "shared/data/burke_gilman" / NAME,
    Path("/work/shared/data/burke_gilman") / NAME,
]
FIXTURE = ROOT / "tests/insight/data/burke_gilman_2019_11w.csv"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, help="the counter CSV (default: ../shared/...)")
    parser.add_argument("--out", type=Path, default=ROOT / "build/burke_gilman")
    parser.add_argument("--fixture", action="store_true", help="also write the test fixture")
    args = parser.parse_args()
    source = args.source or next((p for p in CANDIDATES if p.exists()), CANDIDATES[0])
    raw = pd.read_csv(source)
    raw["time"] = pd.to_datetime(raw["Date"], format="%m/%d/%Y %I:%M:%S %p")
    raw = raw.set_index("time").sort_index()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{'year':<6}{'hours':>7}{'blank':>7}{'spikes':>8}{'S/N':>7}  verdict")
    for year, rows in raw.groupby(raw.index.year):
        south, north = rows["Ped South"], rows["Ped North"]
        blank = south.isna() | north.isna()
        count = (south + north).astype("float64")
        quality = check(count.dropna(), south.dropna(), north.dropna())
        print(
            f"{year:<6}{len(rows):>7}{int(blank.sum()):>7}{quality.spikes:>8}"
            f"{float(south.sum()) / float(north.sum()):>7.2f}  "
            + ("ok" if quality.ok else "FAULTY, skipped: " + "; ".join(quality.problems))
        )
        if not quality.ok:
            continue
        count = _fill_dst_hour(count)
        stretch = _longest_complete(count)
        if len(stretch) < len(count):
            print(f"      kept {stretch.index[0]} .. {stretch.index[-1]} (blank hours elsewhere)")
        _write(stretch, args.out / f"ped-{year}.csv")
        if args.fixture and year == 2019:
            _write(stretch.iloc[: 11 * 168], FIXTURE)
            print(f"      fixture: {FIXTURE.relative_to(ROOT)}")
    return 0


def _fill_dst_hour(count: pd.Series) -> pd.Series:
    """Second Sunday of March, 02:00: the hour that does not exist in Seattle."""
    index = count.index
    spring = (index.month == 3) & (index.day_of_week == 6) & (index.day >= 8) & (index.day <= 14)
    return count.where(~(spring & (index.hour == 2) & count.isna()), 0.0)


def _longest_complete(count: pd.Series) -> pd.Series:
    runs = count.isna().cumsum()
    best = count.notna().groupby(runs).sum().idxmax()
    return count[(runs == best) & count.notna()]


def _write(count: pd.Series, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        {"time": count.index.strftime("%Y-%m-%dT%H:%M"), "count": count.astype(int)}
    )
    frame.to_csv(path, index=False)
    print(f"      wrote {path} ({len(frame)} hours)")


if __name__ == "__main__":
    raise SystemExit(main())
