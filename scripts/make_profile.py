"""Derive the simulator's compact traffic profile from the Burke-Gilman trail counter.

Reads the hourly Seattle DOT counts (see /work/shared/data/README.md), keeps the healthy years
(2014-2016 and 2019; 2017-2018 are a sensor fault), skips blank hours, and writes
hour-of-week mean rates per direction plus a month factor to sensor_sim/data/profile.json.
The simulator reads only that JSON, never the CSV.

    .venv/bin/python scripts/make_profile.py [CSV] [-o sensor_sim/data/profile.json]
"""

from __future__ import annotations

import argparse
import csv
import json
from datetime import datetime
from pathlib import Path

DEFAULT_CSV = Path(
    "/work/shared/data/burke_gilman/Burke_Gilman_Trail_north_of_NE_70th_St_Bike_and_Ped_Counter.csv"
)
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "sensor_sim" / "data" / "profile.json"
HEALTHY_YEARS = (2014, 2015, 2016, 2019)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", type=Path, default=DEFAULT_CSV)
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    sums = {"north": [0.0] * 168, "south": [0.0] * 168}
    hours = [0] * 168
    month_sum = [0.0] * 12
    month_hours = [0] * 12
    rows = skipped = 0
    with open(args.csv, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            stamp = datetime.strptime(row["Date"], "%m/%d/%Y %I:%M:%S %p")  # noqa: DTZ007 local
            if stamp.year not in HEALTHY_YEARS:
                continue
            north, south = row["Ped North"].strip(), row["Ped South"].strip()
            if not north or not south:
                skipped += 1
                continue
            rows += 1
            how = stamp.weekday() * 24 + stamp.hour
            sums["north"][how] += float(north)
            sums["south"][how] += float(south)
            hours[how] += 1
            month_sum[stamp.month - 1] += float(north) + float(south)
            month_hours[stamp.month - 1] += 1

    means = {d: [s / n for s, n in zip(v, hours, strict=True)] for d, v in sums.items()}
    peak = max(a + b for a, b in zip(means["north"], means["south"], strict=True))
    overall = sum(month_sum) / sum(month_hours)
    profile = {
        "source": "Seattle DOT Burke-Gilman Trail north of NE 70th St counter (data set "
        "2z5v-ecg8), Ped North/Ped South, years " + ", ".join(map(str, HEALTHY_YEARS)),
        "licence": "City of Seattle open data terms",
        "timezone": "local time of the counter (fixed 24-hour days, no DST shift)",
        "hours_used": rows,
        "blank_hours_skipped": skipped,
        "note": "hour_of_week index = weekday*24 + hour, Monday 00:00 = 0; rates are "
        "normalised so the busiest hour of the week (north + south) is 1.0",
        "north": [round(x / peak, 5) for x in means["north"]],
        "south": [round(x / peak, 5) for x in means["south"]],
        "month_factor": [
            round(s / n / overall, 4) for s, n in zip(month_sum, month_hours, strict=True)
        ],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(profile, indent=1) + "\n", encoding="utf-8")
    print(f"{rows} hours used, {skipped} blank skipped, peak {peak:.1f}/h -> {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
