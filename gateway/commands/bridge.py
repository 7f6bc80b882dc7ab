"""`doorcount bridge`: forward the MQTT counts to InfluxDB, or to the local store by default."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

_OPTIONS: tuple[tuple[str, str, type, str], ...] = (
    ("--mqtt-host", "mqtt_host", str, "broker host"),
    ("--mqtt-port", "mqtt_port", int, "broker port"),
    ("--mqtt-username", "mqtt_username", str, "broker user (password: env only)"),
    ("--client-id", "client_id", str, "fixed MQTT client id of this instance"),
    ("--share-group", "share_group", str, "shared-subscription group for several instances"),
    ("--prefix", "prefix", str, "topic prefix"),
    ("--influx-url", "influx_url", str, "InfluxDB URL; without it, the local store is used"),
    ("--influx-api", "influx_api", str, "v2 (2.x, 3.x, 1.8+ compat) or v1 (1.x /write)"),
    ("--influx-org", "influx_org", str, "v2 organisation"),
    ("--influx-bucket", "influx_bucket", str, "v2 bucket, or v1 database[/retention policy]"),
    ("--store", "store_path", Path, "local store file (when no InfluxDB is configured)"),
    ("--batch-size", "batch_size", int, "messages per write and MQTT receive window"),
    ("--timezone", "timezone", str, "sites' time zone for hour-of-week figures"),
)


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "bridge",
        help="forward MQTT counts to InfluxDB (or the local store)",
        description=(
            "Subscribe to the doorcount MQTT tree (persistent session, QoS 1) and write every "
            "message to InfluxDB or the local store, acknowledging only after the write. "
            "Every option also reads DOORCOUNT_BRIDGE_<NAME> from the environment; secrets "
            "(DOORCOUNT_BRIDGE_INFLUX_TOKEN, DOORCOUNT_BRIDGE_MQTT_PASSWORD) come only from "
            "there or from --influx-token-file."
        ),
    )
    for flag, dest, kind, text in _OPTIONS:
        parser.add_argument(flag, dest=dest, type=kind, help=text)
    parser.add_argument(
        "--influx-token-file", type=Path, help="read the InfluxDB token from this file"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import signal

    from gateway.errors import ConfigError
    from gateway.outputs.bridge.service import Bridge
    from gateway.outputs.bridge.settings import load_settings
    from gateway.outputs.bridge.sinks import open_sink

    overrides: dict[str, object] = {
        dest: getattr(args, dest) for _, dest, _, _ in _OPTIONS if getattr(args, dest) is not None
    }
    if args.influx_token_file is not None:
        try:
            overrides["influx_token"] = args.influx_token_file.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read --influx-token-file: {exc}") from None
    settings = load_settings(**overrides)
    bridge = Bridge(settings, open_sink(settings))
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: bridge.stop())
    bridge.run()
    return 0
