"""`doorcount run`: the gateway service, configured from a TOML file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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


def load_config(path: Path) -> dict[str, Any]:
    """Read the TOML file; unknown tables are left to their owners."""
    import tomllib

    from gateway.errors import ConfigError

    try:
        with open(path, "rb") as raw:
            return tomllib.load(raw)
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path} is not valid TOML: {exc}") from None


def _model(cls: Any, raw: Any, table: str) -> Any:
    from pydantic import ValidationError

    from gateway.errors import ConfigError

    try:
        return cls.model_validate(raw or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{table}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            if e["loc"]
            else f"[{table}]: {e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError(f"invalid config: {problems}") from None


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal

    from gateway.config import site_layout
    from gateway.outputs.mqtt.settings import MqttSettings, OccupancySettings
    from gateway.pipeline.service import Service
    from gateway.sources.base import TickSource

    log = logging.getLogger("gateway.run")
    config = load_config(args.config)
    mqtt: MqttSettings = _model(MqttSettings, config.get("mqtt"), "mqtt")
    occupancy: OccupancySettings = _model(OccupancySettings, config.get("occupancy"), "occupancy")
    source_cfg = dict(config.get("source") or {})
    if not mqtt.outbox_path.is_absolute():
        mqtt = mqtt.model_copy(update={"outbox_path": args.config.parent / mqtt.outbox_path})
    source: TickSource
    layout_raw: dict[str, Any] = config
    if source_cfg.get("kind") == "serial" and args.trace is None:
        from gateway.sources.serial import serial_from_config

        site, doors, source = serial_from_config(config)
    elif source_cfg.get("kind") == "ble" and args.trace is None:
        from gateway.sources.ble.source import ble_from_config

        site, doors, source = ble_from_config(config)
    else:
        replay = source = _trace_source(args, source_cfg)
        site, doors = replay.header.site, list(replay.header.doors)
        described = replay.header.extra.get("layout")
        if isinstance(described, dict) and not _describes_site(config):
            layout_raw = described  # the trace's own site (e.g. shop-day) when the file has none
    layout = site_layout(layout_raw, [d.door for d in doors])
    from gateway.pipeline.corrections import load_corrections

    # Accepted audits (`doorcount audit`) correct the published counts; raw ones stay beside.
    corrections = load_corrections(Path(config.get("state_dir", "/var/lib/doorcount")))
    service = Service(
        site=site,
        doors=doors,
        source=source,
        mqtt=mqtt,
        occupancy=occupancy,
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


def _describes_site(config: dict[str, Any]) -> bool:
    """Whether the file configures zones, hours or door roles (else a trace's layout applies)."""
    doors = config.get("doors") or []
    keys = {"role", "outer_zone", "inner_zone"}
    return bool(config.get("zones") or config.get("hours")) or any(
        isinstance(d, dict) and keys & set(d) for d in doors
    )


async def _print_status(service: Any, every: float) -> None:
    import asyncio

    from gateway.pipeline.status import status_line

    while every > 0:
        await asyncio.sleep(every)
        print(status_line(service), flush=True)


def _trace_source(args: argparse.Namespace, source_cfg: dict[str, Any]) -> TraceReplay:
    from gateway.errors import ConfigError
    from gateway.sources.tracefile import TraceReplay

    trace = args.trace or source_cfg.pop("trace", None)
    speed = args.speed if args.speed is not None else source_cfg.pop("speed", 0)
    if trace is None:
        raise ConfigError(
            'no tick source: set [source] kind = "ble" (paired nodes), kind = "serial" '
            '(wired [[nodes]] serial = ...), or trace = "..."; or pass --trace'
        )
    if not isinstance(speed, int | float) or speed < 0:
        raise ConfigError(f"source.speed must be a number >= 0, got {speed!r}")
    trace_path = Path(trace)
    if not trace_path.is_absolute() and args.trace is None:
        trace_path = args.config.parent / trace_path
    if not trace_path.is_file():
        where = "--trace" if args.trace is not None else "source.trace"
        raise ConfigError(f"{where}: no such trace file: {trace_path}")
    return TraceReplay(trace_path, speed=speed or None)
