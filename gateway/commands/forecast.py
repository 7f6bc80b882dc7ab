"""`doorcount forecast`: hourly forecasts with intervals; `backtest` scores them; `publish`
writes them where Grafana reads (InfluxDB or the local store) and to MQTT."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    from gateway.insight.sources import add_place_arguments, add_series_arguments

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "forecast",
        help="hourly forecast with prediction intervals; `backtest` scores the model",
        description=(
            "Forecast the next hours of a count series (entries, visitor entries or the mean "
            "people inside, of a site, door or zone) with an 80% prediction interval, never "
            "below 0 (hour-of-week profile, recent level, negative-binomial spread). `forecast "
            "backtest` forecasts from every midnight of the history and prints MASE and "
            "interval coverage for the model and for the seasonal-naive baseline (same hour "
            "last week)."
        ),
    )
    parser.add_argument(
        "action",
        nargs="?",
        choices=("show", "backtest", "publish"),
        default="show",
        help=(
            "show (default): the forecast; backtest: score it on the history; publish: "
            "forecast --site and its doors from the bridge's store, write the forecast there "
            "and to MQTT (retained), for Grafana's overlay"
        ),
    )
    parser.add_argument(
        "--site",
        help="the site to forecast from the bridge's store (publish: with its doors and zones)",
    )
    add_place_arguments(parser, repeat=False)
    parser.add_argument(
        "--no-mqtt", action="store_true", help="publish: write the store only, no MQTT"
    )
    parser.add_argument(
        "--every",
        type=float,
        help="publish: run again every this many seconds (default: once)",
    )
    add_series_arguments(parser, most=1)
    parser.add_argument("--hours", type=int, default=48, help="hours ahead (default 48)")
    parser.add_argument(
        "--model",
        default="profile",
        choices=("profile", "naive", "stl-ets"),
        help="profile (default), naive (same hour last week) or stl-ets",
    )
    parser.add_argument(
        "--closed", action="append", default=[], metavar="DAY", help="a closed day (repeat)"
    )
    parser.add_argument(
        "--holiday",
        action="append",
        default=[],
        metavar="DAY",
        help="a holiday, forecast like a Sunday (repeat)",
    )
    parser.add_argument(
        "--horizon", type=int, default=24, help="backtest: hours scored per origin (default 24)"
    )
    parser.add_argument(
        "--origins", type=int, help="backtest: at most this many origins, spread evenly"
    )
    parser.add_argument(
        "--warmup-weeks",
        type=int,
        default=4,
        help="backtest: weeks of history before the first origin (default 4)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import json

    from gateway.errors import ConfigError
    from gateway.insight.forecast import WEEK, Calendar, backtest, forecast
    from gateway.insight.sources import load_series, parse_days, place_specs

    calendar = Calendar(parse_days(args.closed, "--closed"), parse_days(args.holiday, "--holiday"))
    if args.action == "publish":
        return _publish(args, calendar)
    specs = [*args.series, *place_specs(args)]
    if len(specs) != 1:
        raise ConfigError(
            "give one series (--series SPEC, or --site NAME [--door|--zone NAME]), "
            f"got {len(specs)}"
        )
    if args.origins is not None and args.origins < 1:
        raise ConfigError(f"--origins must be at least 1, got {args.origins}")
    if args.warmup_weeks < 2:
        raise ConfigError(f"--warmup-weeks must be at least 2, got {args.warmup_weeks}")
    series = load_series(args, specs[0])
    hourly = series.hourly()
    if args.action == "backtest":
        result = backtest(
            hourly,
            model=args.model,
            horizon=args.horizon,
            max_origins=args.origins,
            calendar=calendar,
            min_history=args.warmup_weeks * WEEK,
        )
        if args.json:
            print(json.dumps(result.to_json(), indent=2))
        else:
            _print_backtest(series.name, result)
        return 0
    predicted = forecast(hourly, args.hours, model=args.model, calendar=calendar)
    if args.json:
        print(
            json.dumps(
                {
                    "series": series.name,
                    "model": predicted.model,
                    "level": predicted.level,
                    "hours": predicted.rows(),
                },
                indent=2,
            )
        )
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"{series.name}: forecast ({predicted.model}, {predicted.level:.0%} interval)"
    )
    for column in ("hour", "expected", "low", "high"):
        table.add_column(column, justify="left" if column == "hour" else "right")
    for t, row in predicted.frame.iterrows():
        table.add_row(
            t.strftime("%a %Y-%m-%d %H:00"),
            f"{row['mean']:.1f}",
            f"{row['lower']:.0f}",
            f"{row['upper']:.0f}",
        )
    Console().print(table)
    return 0


def _print_backtest(name: str, result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=(
            f"{name}: rolling-origin backtest, {result.origins} origins "
            f"{result.first_origin[:10]}..{result.last_origin[:10]}, {result.horizon} h ahead"
        )
    )
    for column in ("model", "MASE", "80% interval coverage"):
        table.add_column(column, justify="left" if column == "model" else "right")
    table.add_row(result.model, f"{result.model_mase:.3f}", f"{result.coverage_80:.1%}")
    table.add_row(
        "naive (same hour last week)",
        f"{result.baseline_mase:.3f}",
        f"{result.baseline_coverage_80:.1%}",
    )
    Console().print(table)


def _publish(args: argparse.Namespace, calendar: Any) -> int:
    import logging
    import time

    from gateway.errors import ConfigError, DoorcountError
    from gateway.insight.publish import run_once
    from gateway.outputs.bridge.settings import load_settings

    if not args.site:
        raise ConfigError("publish needs --site")
    if args.series:
        raise ConfigError("publish reads the bridge's store; --series is for show and backtest")
    if args.door or args.zone or args.field != "entries":
        raise ConfigError(
            "publish forecasts the site with all its doors and zones and every quantity; "
            "--door, --zone and --field are for show and backtest"
        )
    if args.every is not None and args.every < 60:
        raise ConfigError(f"--every is at least 60 seconds, got {args.every}")
    settings = load_settings()
    log = logging.getLogger("gateway.insight.publish")
    while True:
        try:
            result = run_once(
                settings,
                args.site,
                hours=args.hours,
                calendar=calendar,
                store=args.store,
                mqtt=not args.no_mqtt,
            )
        except DoorcountError as exc:
            if args.every is None:
                raise
            log.warning("forecast of %s failed, next try in %.0f s: %s", args.site, args.every, exc)
        else:
            doors = ", ".join(result.doors) or "no door"
            zones = f", zones {', '.join(result.zones)}" if result.zones else ""
            print(
                f"{result.site}: {result.hours} h forecast for the site and {doors}{zones} "
                f"({len(result.forecasts)} series: entries, visitors, occupancy where "
                f"available); {result.points} points written, "
                + ("MQTT off" if args.no_mqtt else f"{len(result.messages)} MQTT messages")
            )
            for name, reason in result.skipped.items():
                print(f"  {name}: skipped ({reason})")
        if args.every is None:
            return 0
        time.sleep(args.every)
