"""`sensor-sim generate`: write a deterministic trace for a scenario preset."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "generate", help="simulate a scenario and write a doorcount-trace v1 file"
    )
    p.add_argument("--scenario", required=True, help="preset name (see `sensor-sim scenarios`)")
    p.add_argument("--duration", help="e.g. 90s, 10m, 2h, 1d (default: the preset's)")
    p.add_argument("--seed", type=int, default=0, help="random seed (>= 0); same args, same file")
    p.add_argument("-o", "--output", type=Path, required=True, help="trace file to write")
    p.add_argument("--doors", type=int, help="override the preset's number of doors")
    p.add_argument(
        "--start",
        help="wall-clock start, ISO 8601 (default 2025-06-03T10:00:00+00:00; naive = UTC)",
    )
    p.set_defaults(handler=run)


def parse_start(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--start {text!r} is not an ISO 8601 date-time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def run(args: argparse.Namespace) -> int:
    from gateway.errors import check_output_path
    from gateway.protocol.trace import write_trace
    from sensor_sim.generator import generate, resolve
    from sensor_sim.scenarios import parse_duration

    check_output_path(args.output, "--output")  # before the simulation, not after it
    scenario = resolve(args.scenario, args.doors)
    duration = parse_duration(args.duration) if args.duration else scenario.duration_s
    start = parse_start(args.start) if args.start else None
    if sys.stderr.isatty():
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task(f"{scenario.name}: people", total=1.0)

            def show(phase: str, done: float) -> None:
                bar.update(task, completed=done, description=f"{scenario.name}: {phase}")

            header, records = generate(scenario, duration, args.seed, start, progress=show)
            bar.update(task, description=f"{scenario.name}: writing")
            write_trace(args.output, header, records)
        ticks = sum(1 for r in records if r.__class__.__name__ == "Tick")
        print(
            f"wrote {args.output}: {ticks} ticks, {len(records) - ticks} truth lines",
            file=sys.stderr,
        )
    else:
        header, records = generate(scenario, duration, args.seed, start)
        write_trace(args.output, header, records)
    return 0
