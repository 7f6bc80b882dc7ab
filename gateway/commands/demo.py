"""`doorcount demo`: a simulated site counted live, with the truth alongside (no servers)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "demo",
        help="simulate a site and watch its live, evaluated counts",
        description="Simulate doorway traffic with sensor_sim, feed it through the counting "
        "engine in accelerated real time and show per-door counts next to the simulator's "
        "truth. Needs no servers and no hardware.",
    )
    p.add_argument("--scenario", default="mall", help="sensor-sim preset (default: mall)")
    p.add_argument("--duration", default="10m", help="simulated time, e.g. 90s, 10m, 1h")
    p.add_argument("--speed", type=float, default=30.0, help="times faster than real time")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--doors", type=int, default=None, help="override the preset's door count")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from gateway.livedemo import LiveDemo
    from sensor_sim.generator import generate
    from sensor_sim.scenarios import parse_duration

    if args.speed <= 0:
        raise SystemExit("doorcount demo: --speed must be positive")
    header, records = generate(args.scenario, parse_duration(args.duration), args.seed, None,
                               args.doors)
    LiveDemo(header, records, speed=args.speed).run()
    return 0
