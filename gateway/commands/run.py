"""`doorcount run`: the gateway service, configured from a TOML file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.config import GatewayConfig
    from gateway.sources.tracefile import TraceReplay


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the gateway: count crossings and publish them over MQTT (durable outbox)",
        description=(
            "Run the gateway service from a TOML config file with [mqtt], [occupancy] and "
            "[source] tables. Counts are queued in a local SQLite outbox and published to the "
            "broker with QoS 1; broker outages and restarts lose nothing."
        ),
    )
    parser.add_argument("--config", "-c", type=Path, required=True, help="TOML config file")
    parser.add_argument("--trace", type=Path, help="replay this trace (overrides [source] trace)")
    parser.add_argument("--speed", type=float, help="replay speed factor (0 = as fast as possible)")
    parser.add_argument(
        "--record",
        type=Path,
        metavar="FILE",
        help=(
            "also write everything the engine is fed (ticks as received, idle advances) to "
            "this doorcount-trace, kept consistent with the engine checkpoint across "
            "restarts: `doorcount eval FILE` scores it, and it replays the live counts exactly"
        ),
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=60.0,
        help="after a replay ends, wait this long for the broker to take the queue (s)",
    )
    parser.add_argument(
        "--status-every",
        type=float,
        default=60.0,
        metavar="S",
        help="print a one-line status (nodes up, counts, broker, outbox) every S s; 0: never",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal

    from gateway.config import load_config, site_layout
    from gateway.errors import check_output_path
    from gateway.pipeline.service import Service
    from gateway.sources.base import TickSource

    log = logging.getLogger("gateway.run")
    config = load_config(args.config)
    mqtt = config.mqtt
    source: TickSource
    layout_raw: dict[str, Any] = config.model_dump(include={"zones", "hours", "doors"})
    if args.record is not None:
        check_output_path(args.record, "--record")
    if config.source.kind == "serial" and args.trace is None:
        from gateway.sources.serial import serial_from_config

        site, doors, source = serial_from_config(config)
    elif config.source.kind == "ble" and args.trace is None:
        from gateway.sources.ble.source import ble_from_config

        site, doors, source = ble_from_config(config)
    else:
        replay = source = _trace_source(args, config)
        site, doors = replay.header.site, list(replay.header.doors)
        described = replay.header.extra.get("layout")
        if isinstance(described, dict) and not _describes_site(config):
            layout_raw = described  # the trace's own site (e.g. shop-day) when the file has none
    layout = site_layout(layout_raw, [d.door for d in doors])
    check_output_path(mqtt.outbox_path, "mqtt.outbox_path")
    from gateway.pipeline.corrections import load_corrections

    # Accepted audits (`doorcount audit`) correct the published counts; raw ones stay beside.
    corrections = load_corrections(config.state_dir)
    service = Service(
        site=site,
        doors=doors,
        source=source,
        mqtt=mqtt,
        occupancy=config.occupancy,
        record=args.record,
        layout=layout,
        corrections=corrections,
    )
    log.info(
        "doorcount run: site %s, %d doors, broker %s:%d, outbox %s",
        site,
        len(doors),
        mqtt.host,
        mqtt.broker_port,
        mqtt.outbox_path,
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, service.request_stop)
        status = asyncio.create_task(_print_status(service, args.status_every))
        try:
            await service.run(drain_timeout=args.drain_timeout)
        finally:
            status.cancel()

    asyncio.run(main())
    return 0


def _describes_site(config: GatewayConfig) -> bool:
    """Whether the file configures zones, hours or door roles (else a trace's layout applies)."""
    keys = {"role", "outer_zone", "inner_zone"}
    return bool(config.zones or config.hours) or any(
        keys & d.model_fields_set for d in config.doors
    )


async def _print_status(service: Any, every: float) -> None:
    import asyncio

    from gateway.pipeline.status import status_line

    while every > 0:
        await asyncio.sleep(every)
        print(status_line(service), flush=True)


def _trace_source(args: argparse.Namespace, config: GatewayConfig) -> TraceReplay:
    from gateway.config import TraceSourceConfig
    from gateway.errors import ConfigError
    from gateway.sources.tracefile import TraceReplay

    table = config.source if isinstance(config.source, TraceSourceConfig) else None
    trace = args.trace or (table.trace if table is not None else None)
    speed = args.speed if args.speed is not None else (table.speed if table is not None else 0)
    if trace is None:
        raise ConfigError(
            'no tick source: set [source] kind = "ble" (paired nodes), kind = "serial" '
            '(wired [[nodes]] serial = ...), or trace = "..."; or pass --trace'
        )
    if not speed >= 0:  # also NaN
        raise ConfigError(f"--speed must be a number >= 0, got {speed!r}")
    if not trace.is_file():
        where = "--trace" if args.trace is not None else "source.trace"
        raise ConfigError(f"{where}: no such trace file: {trace}")
    return TraceReplay(trace, speed=speed or None)
