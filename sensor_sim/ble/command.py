"""`sensor-sim serve`: serve a trace from simulated BLE nodes, for a gateway to count.

Wire it into the CLI with a one-line `sensor_sim/commands/serve.py`:
`from sensor_sim.ble.command import register`.

- `--radio virtual` (default): every node is a bumble controller on an in-process radio with
  connection-interval timing; `--gateway-hci tcp-server:_:9000` adds a controller on that
  radio, reachable over HCI-over-TCP, so a gateway in another process can use
  `ble.backend = "bumble:tcp-client:127.0.0.1:9000"` (a fresh controller per gateway process;
  when one goes away, its links time out: `sensor_sim.ble.hciport`).
- `--radio usb:0` (any bumble transport): one node per real controller (`--node`), so a real
  gateway can be tested over the air.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sensor_sim.ble.serve import TraceServer


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve a trace from simulated BLE beam nodes (bumble peripherals)",
        description=(
            "Serve a trace's nodes over a virtual radio. With --interactive or --control, the "
            "trace gives the site (doors and nodes) and you play the door instead of replaying "
            "it: press a node's button, walk a person in or out, glitch a beam, see the LEDs."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("trace", type=Path, help="doorcount-trace file to serve")
    p.add_argument("--radio", default="virtual", help="virtual, or a bumble transport (usb:0)")
    p.add_argument(
        "--interactive",
        action="store_true",
        help="play the door from the terminal (type help); the trace is not replayed",
    )
    p.add_argument(
        "--control",
        type=Path,
        metavar="SOCKET",
        help="accept the same commands on this unix socket (sensor-sim ctl); no replay",
    )
    p.add_argument(
        "--gateway-hci",
        metavar="TRANSPORT",
        help="with --radio virtual: a controller per gateway process (tcp-server:_:9000)",
    )
    p.add_argument(
        "--node", action="append", help="serve only these node ids (repeatable; default: all)"
    )
    p.add_argument("--speed", type=float, default=1.0, help="replay speed factor")
    p.add_argument("--interval-ms", type=float, default=15.0, help="connection interval, ms")
    p.add_argument("--passkey", default="123456", help="label passkey of every node")
    p.add_argument(
        "--keys", type=Path, help="directory for the nodes' bonds (default: memory, lost on exit)"
    )
    p.add_argument(
        "--pairing-window",
        type=float,
        default=120.0,
        help="open every node's pairing window this long at start, s (0: closed)",
    )
    p.add_argument(
        "--start-after",
        type=float,
        default=30.0,
        help="seconds to wait (pairing, connecting) before replaying",
    )
    p.add_argument(
        "--disconnect-every",
        type=float,
        help="mean seconds between random link losses (default: none)",
    )
    p.add_argument("--status-interval", type=float, default=5.0, help="STATUS period (s)")
    p.add_argument("--seed", type=int, default=0, help="random link losses' seed")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import asyncio

    return asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> int:
    import asyncio

    from gateway.errors import ConfigError
    from gateway.protocol.gatt import parse_passkey
    from gateway.protocol.trace import open_trace
    from sensor_sim.ble.link import RadioLink
    from sensor_sim.ble.serve import TraceServer

    with open_trace(args.trace) as reader:
        header = reader.header
        records = list(reader)
    virtual = args.radio == "virtual"
    if not virtual and (not args.node or len(args.node) != 1):
        raise ConfigError("a real controller serves one node: give exactly one --node")
    radio: RadioLink | str = RadioLink(interval=args.interval_ms / 1000) if virtual else args.radio
    server = TraceServer(
        header,
        records,
        radio,
        speed=args.speed,
        passkeys=parse_passkey(args.passkey),
        keystore_dir=args.keys,
        status_interval=args.status_interval,
        disconnect_every=args.disconnect_every,
        seed=args.seed,
        only=args.node,
    )
    port = None
    if args.gateway_hci:
        if not isinstance(radio, RadioLink):
            raise ConfigError("--gateway-hci needs --radio virtual")
        from sensor_sim.ble.hciport import GatewayHciPort

        async def links_time_out() -> None:
            nodes = [n for n in server.nodes.values() if n.peripheral.connected]
            await asyncio.gather(*(n.drop_link() for n in nodes))

        port = GatewayHciPort(radio, links_time_out)
        try:
            await port.start(args.gateway_hci)
        except (ValueError, OSError) as exc:
            raise ConfigError(f"--gateway-hci: {exc}") from None
    await server.start()
    try:
        if args.pairing_window > 0:
            server.open_pairing(args.pairing_window)
        for node in server.nodes.values():
            print(f"{node.node_id}\t{node.address}\tpasskey {args.passkey}", flush=True)
        if args.interactive or args.control:
            await play_the_door(server, args)
            return 0
        await asyncio.sleep(args.start_after)
        await server.run()
        print(
            f"served {len(server.served())} ticks; {server.disconnects} link losses, "
            f"{server.reboots} reboots; {len(server.lost())} never sent (unsent at a reboot "
            "or overwritten); Ctrl-C to stop",
            flush=True,
        )
        await asyncio.Event().wait()
    finally:
        await server.close()
        if port is not None:
            await port.close()
    return 0


async def play_the_door(server: TraceServer, args: argparse.Namespace) -> None:
    """The installer's simulator: commands from the terminal and/or the control socket."""
    import asyncio

    from sensor_sim.ble.console import Console, serve_socket, serve_stdin

    console = Console(server.nodes, server.header.doors)
    control = await serve_socket(console, args.control) if args.control else None
    leds = asyncio.get_running_loop().create_task(console.watch_leds(_say))
    if control is not None:
        print(f"control socket {args.control}: sensor-sim ctl --control {args.control} help")
    try:
        if args.interactive:
            print("type help for the commands, Ctrl-D to stop", flush=True)
            await serve_stdin(console)
        else:
            await asyncio.Event().wait()
    finally:
        leds.cancel()
        if control is not None:
            control.close()
            await control.wait_closed()
            args.control.unlink(missing_ok=True)


def _say(line: str) -> None:
    print(line, flush=True)
