"""`doorcount report`: daily and hourly tables and a PNG chart from the local series store."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="print daily/hourly counts and write a PNG chart from the local store",
        description=(
            "Read the series the bridge stored locally (no InfluxDB configured) and print "
            "daily and hourly entries, exits and peak occupancy per door, then draw the "
            "chosen day as a PNG (entries, exits, and people inside per door); the site's "
            "entries forecast for the next 24 hours with its 80% band; then the visitor KPIs "
            "per day (capture rate, conversion, person-hours, mean visit) and "
            "their hourly chart (FILE-kpis.png)."
        ),
    )
    parser.add_argument(
        "--store", type=Path, help="local store file (default: the bridge's store_path setting)"
    )
    parser.add_argument("--site", help="site to report (needed when the store holds several)")
    parser.add_argument("--day", help="day to detail, YYYY-MM-DD (default: the last with data)")
    parser.add_argument("--days", type=int, default=7, help="days in the daily table (default 7)")
    parser.add_argument("--tz", help="time zone for days and hours (default: the bridge's)")
    parser.add_argument(
        "--png", type=Path, default=Path("doorcount-report.png"), help="chart file to write"
    )
    parser.add_argument("--no-png", action="store_true", help="print the tables only")
    parser.add_argument(
        "--summary",
        type=Path,
        metavar="FILE",
        help="also write the weekly summary of the week ending --day (.png or .pdf): entries "
        "per hour with the forecast band, the days against the week before, doors ranked, "
        "the hour-of-week heat map",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from datetime import date
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from gateway.errors import ConfigError
    from gateway.insight.kpireport import KpiReport, print_kpis, write_kpi_chart
    from gateway.insight.report import Report, print_forecast, print_tables, write_chart
    from gateway.insight.summary import site_forecast
    from gateway.outputs.bridge.settings import load_settings
    from gateway.outputs.bridge.store import LocalStore

    if not args.no_png:
        from gateway.evaluation.plot import check_image_path

        check_image_path(args.png, "--png")  # before any work: the folder is never created
    if args.summary is not None:
        from gateway.errors import check_output_path

        check_output_path(args.summary, "--summary")
    settings = load_settings()
    path: Path = args.store or settings.store_path
    if not path.exists():
        raise ConfigError(f"no local store at {path} (run the bridge without an InfluxDB first)")
    try:
        tz = ZoneInfo(args.tz or settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {args.tz!r}") from None
    if args.days < 1:
        raise ConfigError(f"--days must be at least 1, got {args.days}")
    store = LocalStore(path)
    try:
        report = Report(store, tz, args.site)
        if args.day is None:
            day = report.last_day()
        else:
            try:
                day = date.fromisoformat(args.day)
            except ValueError:
                raise ConfigError(f"--day wants YYYY-MM-DD, got {args.day!r}") from None
        print_tables(report, day, args.days)
        forecast, note = site_forecast(store, report.site, tz)
        print_forecast(forecast, note, report.counted_until(), report.site)
        kpis = KpiReport(store, tz, report.site)
        print_kpis(kpis, day, args.days)
        if not args.no_png:
            print(f"chart: {write_chart(report, day, args.png)}")
            kpi_png = args.png.with_name(f"{args.png.stem}-kpis{args.png.suffix}")
            print(f"chart: {write_kpi_chart(kpis, day, kpi_png)}")
        if args.summary is not None:
            _summary(store, tz, report.site, day, args.summary)
    finally:
        store.close()
    return 0


def _summary(store: Any, tz: Any, site: str, day: Any, path: Path) -> None:
    from gateway.insight.summary import load_summary, write_summary

    summary = load_summary(store, tz, site, day)
    print(f"summary: {write_summary(summary, path)}")
    print(f"  forecast: {summary.forecast_note}")
    print(f"  this week: {summary.comparison_note}")
