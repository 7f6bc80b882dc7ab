"""`doorcount demo`: a simulated site through the whole product, with the truth alongside.

Simulated nodes over a virtual BLE radio, the gateway service, an embedded MQTT broker, the
bridge and the local series store: nothing to install, no server, no hardware.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

DEFAULT_HISTORY_WEEKS = 8
MAX_HISTORY_WEEKS = 104
DEFAULT_SPEED = 10.0
"""The demo's default pace: half the speed at which the BLE path began to lose crossings on the
slowest machine measured (`site.MAX_BLE_SPEED`), so the figure it prints is the engine's, not
the host's scheduling; 10 simulated minutes take a minute."""


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "doorcount" / "demo"


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "demo",
        help="simulate a site and watch it counted through the whole pipeline",
        description="Simulate doorway traffic with sensor_sim, serve it from simulated BLE "
        "nodes over a virtual radio in accelerated time, pair the gateway with them, count, "
        "publish over MQTT (an embedded amqtt broker unless --mqtt-host is given; a deployment "
        "uses Mosquitto) and store the series locally for `doorcount report`. Shows per-door "
        "counts next to the simulator's truth. Needs no servers and no hardware.",
    )
    p.add_argument("--scenario", default="mall", help="sensor-sim preset (default: mall)")
    p.add_argument("--duration", default="10m", help="simulated time, e.g. 90s, 10m, 1h")
    p.add_argument(
        "--speed",
        type=float,
        default=DEFAULT_SPEED,
        help=f"times faster than real time (default: {DEFAULT_SPEED:g})",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--doors", type=int, default=None, help="override the preset's door count")
    p.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="outbox, keys and series store; replaced at each run "
        f"(default: {default_state_dir()})",
    )
    p.add_argument(
        "--no-ble",
        action="store_true",
        help="feed the simulated ticks to the gateway directly, without BLE",
    )
    p.add_argument(
        "--mqtt-host", default=None, help="use this MQTT broker instead of the embedded one"
    )
    p.add_argument("--mqtt-port", type=int, default=1883)
    p.add_argument(
        "--interval", type=int, default=60, help="seconds per stored count interval (default: 60)"
    )
    p.add_argument(
        "--history",
        type=int,
        default=DEFAULT_HISTORY_WEEKS,
        metavar="WEEKS",
        help="simulated weeks of counts to write before the live ones, so the forecast and "
        f"the weekly comparison have history (default {DEFAULT_HISTORY_WEEKS}: the forecast's "
        "window and four weeks against four; 0: none)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from rich.console import Console

    from gateway.errors import ConfigError
    from sensor_sim.demo.site import DemoOptions, DemoSite
    from sensor_sim.demo.view import LiveView, print_summary, summary_line
    from sensor_sim.generator import generate
    from sensor_sim.scenarios import parse_duration

    if args.speed <= 0:
        raise ConfigError(f"--speed must be positive, got {args.speed}")
    if args.interval < 1 or 86400 % args.interval:
        raise ConfigError(f"--interval must divide a day in seconds, got {args.interval}")
    if not 1 <= args.mqtt_port <= 65535:
        raise ConfigError(f"--mqtt-port must be 1..65535, got {args.mqtt_port}")
    if not 0 <= args.history <= MAX_HISTORY_WEEKS:
        raise ConfigError(f"--history must be 0..{MAX_HISTORY_WEEKS} weeks, got {args.history}")
    header, records = generate(
        args.scenario, parse_duration(args.duration), args.seed, None, args.doors
    )
    options = DemoOptions(
        state_dir=args.state_dir or default_state_dir(),
        speed=args.speed,
        ble=not args.no_ble,
        mqtt_host=args.mqtt_host,
        mqtt_port=args.mqtt_port,
        interval_seconds=args.interval,
    )
    console = Console()
    root = logging.getLogger()
    level = root.level
    if not getattr(args, "verbose", 0):  # the live view is the output: no library chatter
        root.setLevel(logging.ERROR)
    site = DemoSite(header, records, options, seed=args.seed)
    view = LiveView(site.board, args.speed, console)
    try:
        result = asyncio.run(site.run(view.run))
    finally:
        root.setLevel(level)
    lines = []
    if result.no_ble_reason is not None:
        lines.append(
            f"BLE not used ({result.no_ble_reason}); the ticks went to the gateway directly instead"
        )
    lines.append(summary_line(site.board, result.duplicates, result.seq_lost))
    stored = (
        f"stored: {result.stored_entries} entries, {result.stored_exits} exits in "
        f"{result.stored_intervals} interval counts via {result.path}"
    )
    if not result.delivered:
        stored += (
            f" -- MISMATCH: counted {result.counted_entries} entries, {result.counted_exits} exits"
        )
    lines.append(stored)
    report = f"report: doorcount report --store {result.store_path}"
    if args.history and result.delivered:
        from sensor_sim.demo.history import add_history
        from sensor_sim.generator import resolve

        lines += add_history(
            result.store_path,
            header.site,
            [d.door for d in header.doors],
            resolve(args.scenario, args.doors),
            weeks=args.history,
            seed=args.seed,
        )
        summary = result.store_path.with_name("summary.png")
        report += f" --summary {summary}"
    lines.append(report)
    print_summary(console, *lines)
    return 0 if result.delivered else 1
