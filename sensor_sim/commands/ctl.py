"""`sensor-sim ctl --control SOCKET COMMAND ...`: play the door of a running `serve --control`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "ctl",
        help="send a command to `sensor-sim serve --control`: press, walk, glitch, led, ...",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--control", type=Path, required=True, metavar="SOCKET", help="its socket")
    p.add_argument("words", nargs="+", metavar="COMMAND", help="e.g. press n01, walk in, led")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import shlex
    import sys

    from sensor_sim.ble.console import ConsoleError, send

    try:
        answer = asyncio.run(send(args.control, shlex.join(args.words)))
    except ConsoleError as exc:
        print(f"sensor-sim ctl: {exc}", file=sys.stderr)
        return 1
    if answer.startswith("error: "):
        print(f"sensor-sim ctl: {answer.removeprefix('error: ')}", file=sys.stderr)
        return 1
    print(answer)
    return 0
