"""`doorcount ble-listen`: count crossings live from paired BLE nodes (maintainer tool).

Connects the given nodes through the configured backend, prints each crossing as a JSON line,
and can record everything the engine was fed (`--record`) for a bit-exact offline replay
(`gateway.pipeline.recording.replay_recording`); `doorcount eval` reads that file too.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "ble-listen", help="count crossings live from paired BLE nodes (and record them)"
    )
    p.add_argument("--backend", default="os", help='"os" (BlueZ) or "bumble:<transport>"')
    p.add_argument(
        "--keys",
        type=Path,
        default=Path("ble-keys.json"),
        help="bond store of the bumble backend (default ble-keys.json)",
    )
    p.add_argument(
        "--doors",
        type=Path,
        required=True,
        metavar="TRACE",
        help="take the door layout from this trace's header",
    )
    p.add_argument(
        "--node",
        action="append",
        required=True,
        metavar="ID=ADDRESS",
        help="a paired node (repeatable)",
    )
    p.add_argument(
        "--pair",
        metavar="PASSKEY",
        help="first pair every node not yet bonded, with this label passkey",
    )
    p.add_argument("--record", type=Path, help="write the session as a replayable trace")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import asyncio

    return asyncio.run(_listen(args))


async def _listen(args: argparse.Namespace) -> int:
    import asyncio
    import contextlib
    import json
    import sys

    from gateway.core.events import Crossing, Event
    from gateway.errors import ConfigError
    from gateway.pipeline.live import LiveCounter
    from gateway.protocol.trace import open_trace
    from gateway.sources.ble import pairing
    from gateway.sources.ble.backend import open_backend
    from gateway.sources.ble.ingest import PairedNode, Report

    nodes = []
    for item in args.node:
        name, sep, address = item.partition("=")
        if not sep or not name or not address:
            raise ConfigError(f"--node must be ID=ADDRESS, got {item!r}")
        nodes.append(PairedNode(name, address.upper()))
    with open_trace(args.doors) as reader:
        header = reader.header
    backend = await open_backend(args.backend, keystore=args.keys)

    def show(events: list[Event]) -> None:
        for e in events:
            if isinstance(e, Crossing):
                print(
                    json.dumps({"door": e.door, "direction": e.direction, "t": round(e.t, 4)}),
                    flush=True,
                )

    def report(r: Report) -> None:
        print(f"{r.node} {r.kind} {r.detail}", file=sys.stderr, flush=True)

    try:
        if args.pair:
            for node in nodes:
                central = backend.central
                if central is None or not await central.is_bonded(node.address):
                    paired = await pairing.pair(backend, node.address, args.pair)
                    print(f"paired {paired.node} {paired.address}", file=sys.stderr)
        with contextlib.ExitStack() as stack:
            record = (
                stack.enter_context(open(args.record, "w", encoding="utf-8"))
                if args.record
                else None
            )
            live = LiveCounter(
                backend, header, nodes, on_events=show, on_report=report, record=record
            )
            await live.start()
            try:
                if args.duration:
                    await asyncio.sleep(args.duration)
                else:
                    await asyncio.Event().wait()
            finally:
                await live.stop()
    finally:
        await backend.close()
    return 0
