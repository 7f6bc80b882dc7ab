"""`doorcount compare`: did the counts change between two periods, doors, zones or sites?"""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    from gateway.insight.sources import add_place_arguments, add_series_arguments

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "compare",
        help="change between two series of daily counts, with a 95%% interval and p-value",
        description=(
            "Compare the daily totals of series B with series A (two periods, or two doors, "
            "zones or sites over the same days) with a negative-binomial model that allows "
            "for over-dispersion and weekday effects. Prints the change, its 95% interval, "
            "the p-value, the assumptions, and how many days of each are needed to detect a "
            "change of --detect percent at alpha 0.05 with power 0.8."
        ),
    )
    add_series_arguments(parser, most=2)
    parser.add_argument(
        "--site",
        help="two doors or zones of this site from the bridge's store (--door or --zone twice)",
    )
    add_place_arguments(parser, repeat=True)
    parser.add_argument(
        "--detect",
        type=float,
        default=10.0,
        metavar="PCT",
        help="the change (percent) to plan the days needed for (default 10)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import json

    from gateway.errors import ConfigError
    from gateway.insight.compare import compare
    from gateway.insight.sources import load_series, place_specs

    specs = [*args.series, *place_specs(args)]
    if len(specs) != 2:
        raise ConfigError(
            "give --series twice (A, then B), or --site with --door or --zone twice, "
            f"got {len(specs)} series"
        )
    if not 0 < args.detect < 1000:
        raise ConfigError(f"--detect is a percent between 0 and 1000, got {args.detect}")
    a, b = (load_series(args, spec) for spec in specs)
    result = compare(a.daily(), b.daily(), detect=args.detect / 100, names=(a.name, b.name))
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    _print(result)
    return 0


def _print(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{result.b} against {result.a} ({result.design})")
    table.add_column("")
    table.add_column("A", justify="right")
    table.add_column("B", justify="right")
    table.add_row("series", result.a, result.b)
    table.add_row("whole days", str(result.days_a), str(result.days_b))
    table.add_row("mean per day", f"{result.mean_a:,.1f}", f"{result.mean_b:,.1f}")
    console = Console()
    console.print(table)
    verdict = "a real change" if result.p_value < 0.05 else "no change shown"
    console.print(
        f"change {result.change:+.1%} (95% interval {result.ci_low:+.1%} .. {result.ci_high:+.1%}),"
        f" p = {result.p_value:.3g}: {verdict} at the 5% level"
    )
    needed = (
        f"{result.days_needed} days in each"
        if result.days_needed is not None
        else "more than ten years in each"
    )
    console.print(
        f"to detect a change of {result.detect:.0%} (alpha 0.05, power 0.8): {needed} "
        f"(day-to-day dispersion {result.dispersion:.3g})"
    )
    console.print("assumptions:")
    for line in result.assumptions:
        console.print(f"  - {line}")
