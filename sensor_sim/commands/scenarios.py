"""`sensor-sim scenarios`: the presets with one-line descriptions."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("scenarios", help="list scenario presets")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from sensor_sim.scenarios import PRESETS

    width = max(len(name) for name in PRESETS)
    for name, sc in PRESETS.items():
        print(f"{name:<{width}}  {sc.description} (default {_human(sc.duration_s)})")
    return 0


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
