"""`doorcount export`: stored counts as CSV or Parquet for BI tools."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "export",
        help="write stored counts as CSV or Parquet (Power BI, Excel, pandas)",
        description=(
            "Write the entries and exits the bridge stored locally, per site, door and period "
            "(interval, hour or day, local time with its UTC offset), as a tidy CSV or Parquet "
            "table; or, with --as-series, the `time,count` CSV that compare and forecast read."
        ),
    )
    parser.add_argument("out", type=Path, help="the file to write: NAME.csv or NAME.parquet")
    parser.add_argument("--store", type=Path, help="local store file (default: the bridge's)")
    parser.add_argument("--site", help="only this site")
    parser.add_argument("--door", help="only this door")
    parser.add_argument(
        "--period",
        choices=("interval", "hour", "day"),
        default="hour",
        help="rows per stored interval, hour (default) or day",
    )
    parser.add_argument("--tz", help="time zone of the times (default: the bridge's)")
    parser.add_argument(
        "--as-series",
        choices=("entries", "exits"),
        help="write `time,count` of this field summed over the chosen doors",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from gateway.errors import ConfigError, check_output_path
    from gateway.insight.export import as_series, counts_table, write_table
    from gateway.outputs.bridge.settings import load_settings
    from gateway.outputs.bridge.store import LocalStore

    settings = load_settings()
    check_output_path(args.out, "export")  # before any work: the folder is never created
    path: Path = args.store or settings.store_path
    if not path.exists():
        raise ConfigError(f"no local store at {path} (run the bridge without an InfluxDB first)")
    try:
        tz = ZoneInfo(args.tz or settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {args.tz!r}") from None
    store = LocalStore(path)
    try:
        table = counts_table(store, tz, site=args.site, door=args.door, period=args.period)
    finally:
        store.close()
    if args.as_series:
        if args.site is None and table["site"].nunique() > 1:
            raise ConfigError("--as-series sums doors of one site: choose it with --site")
        table = as_series(table, args.as_series)
    written = write_table(table, args.out)
    print(f"{written}: {len(table)} rows")
    return 0
