"""`doorcount pos import`: till transaction counts from a POS CSV export into the series store."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

_SINK_OPTIONS: tuple[tuple[str, str, type, str], ...] = (
    ("--influx-url", "influx_url", str, "InfluxDB URL; without it, the local store is used"),
    ("--influx-api", "influx_api", str, "v2 (2.x, 3.x, 1.8+ compat) or v1 (1.x /write)"),
    ("--influx-org", "influx_org", str, "v2 organisation"),
    ("--influx-bucket", "influx_bucket", str, "v2 bucket, or v1 database[/retention policy]"),
    ("--store", "store_path", Path, "local store file (when no InfluxDB is configured)"),
)


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "pos",
        help="import till transaction counts (no customer data) for sales conversion",
        description="Till transactions from a point-of-sale system, counts only.",
    )
    sub = parser.add_subparsers(dest="pos_command", metavar="ACTION", required=True)
    imp: argparse.ArgumentParser = sub.add_parser(
        "import",
        help="read a POS CSV export and store transactions per till and interval",
        description=(
            "Read a CSV export (one row per transaction, or one row per period with a count "
            "column), count transactions per till and interval, and write them where the "
            "bridge writes (InfluxDB, or the local store). Only the mapped time, count, till "
            "and zone columns are read. Re-importing a file, or a corrected export of the same "
            "span, replaces the stored counts. Example: --map 'date=Date,time=Time' (Square "
            "transactions), --map 'time=Created at' --time-format '%%Y-%%m-%%d %%H:%%M:%%S %%z' "
            "(Shopify orders), --map 'time=Hour,count=Transactions' (an hourly report)."
        ),
    )
    imp.add_argument("file", type=Path, metavar="FILE.csv")
    imp.add_argument(
        "--map",
        required=True,
        help="columns: time=COL (required), date=COL, count=COL, till=COL, zone=COL",
    )
    imp.add_argument("--site", required=True, help="site name, as the gateway publishes it")
    imp.add_argument("--till", default="pos", help="till name when no till column is mapped")
    imp.add_argument("--zone", help="zone of the tills when no zone column is mapped")
    imp.add_argument(
        "--seconds", type=int, default=3600, help="interval length (default 3600, one hour)"
    )
    imp.add_argument("--time-format", help="strptime format of the time (default ISO 8601)")
    imp.add_argument("--tz", help="time zone of times without an offset (default: the bridge's)")
    for flag, dest, kind, text in _SINK_OPTIONS:
        imp.add_argument(flag, dest=dest, type=kind, help=text)
    imp.add_argument("--influx-token-file", type=Path, help="read the InfluxDB token from it")
    imp.set_defaults(handler=run_import)


def run_import(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from gateway.errors import ConfigError
    from gateway.outputs.bridge.schema import transactions_point
    from gateway.outputs.bridge.settings import load_settings
    from gateway.outputs.bridge.sinks import open_sink
    from gateway.sources.pos import ColumnMap, read_pos_csv, summary

    overrides: dict[str, object] = {
        dest: getattr(args, dest)
        for _, dest, _, _ in _SINK_OPTIONS
        if getattr(args, dest) is not None
    }
    if args.influx_token_file is not None:
        try:
            overrides["influx_token"] = args.influx_token_file.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read --influx-token-file: {exc}") from None
    settings = load_settings(**overrides)
    try:
        tz = ZoneInfo(args.tz or settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {args.tz!r}") from None
    mapping = ColumnMap.parse(args.map)
    try:
        text = args.file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {args.file}: {exc}") from None
    result = read_pos_csv(
        text,
        mapping,
        site=args.site,
        tz=tz,
        seconds=args.seconds,
        time_format=args.time_format,
        till=args.till,
        zone=args.zone,
    )
    sink = open_sink(settings)
    try:
        sink.write([transactions_point(p) for p in result.payloads])
        print(summary(result, sink.describe()))
    finally:
        sink.close()
    return 0
