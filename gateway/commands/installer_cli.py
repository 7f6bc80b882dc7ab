"""`doorcount scan|pair|unpair|identify|doors|live|walktest|audit`: the installer's commands.

Each one reads the gateway config (`--config`, default $DOORCOUNT_CONFIG or
/etc/doorcount/doorcount.toml), opens the configured BLE backend for its own short
connections, and exits 0, or 1 with the next step on stderr. What they change lives in the
pairing registry (`<state_dir>/pairings.json`) and the BLE bonds; the TOML file is never
written. With the bumble backend the gateway's bonds are kept in `<state_dir>/ble-keys.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from gateway.installer.pairing_flow import Outcome
    from gateway.installer.site import Site

DEFAULT_CONFIG = "/etc/doorcount/doorcount.toml"
QUIET_LOGGERS = ("bumble", "bleak", "gateway.sources.ble")
"""Library loggers kept off the installer's terminal: shown with -v (never below INFO:
bumble's debug output names passkeys and keys). The BLE source's own warnings (a node that
refuses its bond, a link lost) are told by the commands in the installer's words."""


def register(subparsers: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        "-c",
        type=Path,
        default=Path(os.environ.get("DOORCOUNT_CONFIG", DEFAULT_CONFIG)),
        help="gateway config (default: $DOORCOUNT_CONFIG or %(default)s)",
    )

    p = subparsers.add_parser(
        "scan", parents=[common], help="list the nodes nearby: RSSI, pairing mode, paired or not"
    )
    p.add_argument("--seconds", type=float, default=5.0, help="how long to listen (default 5)")
    p.set_defaults(handler=lambda args: run(scan(args), args))

    p = subparsers.add_parser(
        "pair",
        parents=[common],
        help="pair a node (press its button first) and assign it to a door's beam",
    )
    p.add_argument(
        "node",
        metavar="NODE",
        help="node id (on its label), BLE address, or the label's scanned QR text",
    )
    p.add_argument("--door", required=True, help="door name, as in the config's [[doors]]")
    p.add_argument(
        "--position",
        required=True,
        choices=["outer", "inner", "both"],
        help="which beam of the door; 'both' for a dual-beam node (beam 0 outer, 1 inner)",
    )
    p.add_argument("--beam", type=int, default=0, choices=range(8), help="node beam channel")
    p.add_argument(
        "--passkey",
        help="the 6 digits on the node's label, or its scanned QR text (asked for when left out)",
    )
    p.add_argument("--scan-seconds", type=float, default=3.0, help="how long to look for the node")
    p.set_defaults(handler=lambda args: run(pair(args), args))

    p = subparsers.add_parser(
        "unpair", parents=[common], help="forget a node: its bond and its registry entry"
    )
    p.add_argument("node", metavar="NODE", help="node id or BLE address")
    p.set_defaults(handler=lambda args: run(unpair(args), args))

    p = subparsers.add_parser(
        "identify", parents=[common], help="blink a node's LED so you can find it"
    )
    p.add_argument("node", metavar="NODE", help="node id or BLE address")
    p.add_argument("--seconds", type=int, default=10, choices=range(256), metavar="0..255")
    p.add_argument("--scan-seconds", type=float, default=3.0, help="how long to look for the node")
    p.set_defaults(handler=lambda args: run(identify(args), args))

    p = subparsers.add_parser(
        "doors", parents=[common], help="show each door's beams and its nodes' live health"
    )
    p.add_argument("--offline", action="store_true", help="configuration only, no Bluetooth")
    p.add_argument("--seconds", type=float, default=5.0, help="how long to look for nodes")
    p.set_defaults(handler=lambda args: run(doors(args), args))

    p = subparsers.add_parser(
        "live",
        parents=[common],
        help="watch doors live for aiming beams: beam states, links, RSSI, battery, crossings",
    )
    p.add_argument("--door", help="watch this door only (default: every door that is ready)")
    p.add_argument("--seconds", type=float, help="stop after this long (default: Ctrl-C)")
    p.add_argument(
        "--every", type=float, default=5.0, help="show the doors and nodes table every S s"
    )
    p.add_argument(
        "--connect-timeout", type=float, default=30.0, help="wait this long for the nodes (s)"
    )
    p.set_defaults(handler=lambda args: run(live(args), args))

    p = subparsers.add_parser(
        "audit",
        parents=[common],
        help="count a door by hand beside the gateway: accuracy with a confidence interval, "
        "and a correction factor if you accept it",
    )
    p.add_argument("--door", required=True, help="door name")
    p.add_argument(
        "--minutes", type=float, help="audit period (default: until q; 10 with --totals)"
    )
    p.add_argument(
        "--totals", action="store_true", help="type hand totals at the end instead of a tap each"
    )
    p.add_argument("--yes", "-y", action="store_true", help="apply the correction without asking")
    p.add_argument(
        "--connect-timeout", type=float, default=30.0, help="wait this long for the nodes (s)"
    )
    p.set_defaults(handler=lambda args: run(audit(args), args))

    p = subparsers.add_parser(
        "walktest",
        parents=[common],
        help="walk through a door when told and see each walk counted; finds swapped beams",
    )
    p.add_argument("--door", required=True, help="door name")
    p.add_argument("--walks", type=int, default=2, help="walks per direction (default 2)")
    p.add_argument(
        "--direction",
        choices=["both", "in", "out"],
        default="both",
        help="which way you will be asked to walk (default both: a swap needs both)",
    )
    p.add_argument(
        "--timeout", type=float, default=180.0, help="give up after this long (s, default 180)"
    )
    p.add_argument(
        "--connect-timeout", type=float, default=30.0, help="wait this long for the nodes (s)"
    )
    p.add_argument("--yes", "-y", action="store_true", help="apply a swap fix without asking")
    p.set_defaults(handler=lambda args: run(walktest(args), args))


# Plumbing ------------------------------------------------------------------------------------


def run(work: Coroutine[Any, Any, int], args: argparse.Namespace | None = None) -> int:
    """Run one command; any failure ends as exit code 1 with its next step on stderr.

    Library log lines (bumble's warnings on a failed pairing, say) reach the terminal only
    with -v: the installer reads our `error:`/`next:` lines, not the stack's.
    """
    import logging

    from bleak.exc import BleakError

    from gateway.errors import DoorcountError
    from gateway.installer.view import fail, next_step_for

    verbose = getattr(args, "verbose", 0) if args is not None else 0
    for name in QUIET_LOGGERS:
        log = logging.getLogger(name)
        log.setLevel(logging.INFO if verbose else logging.CRITICAL + 1)
    try:
        return asyncio.run(work)
    except (DoorcountError, BleakError, TimeoutError, OSError) as exc:
        message = str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError) and not str(exc):
            message = "the node did not answer in time"
        return fail(message, getattr(exc, "next_step", None) or next_step_for(exc))


def say(*lines: str) -> None:
    for line in lines:
        print(line, flush=True)


def tell(outcome: Outcome) -> int:
    from gateway.installer.view import warn

    say(*outcome.lines)
    for message, step in outcome.warnings:
        warn(message, step)
    return 0


# Commands ------------------------------------------------------------------------------------


async def scan(args: argparse.Namespace) -> int:
    from bleak.exc import BleakError

    from gateway.errors import BleError
    from gateway.installer.scan import listen, read_node_id, stale_bonds
    from gateway.installer.site import Site
    from gateway.installer.view import ScanRow, StepError, scan_lines, warn

    site = Site(args.config)
    backend = await site.open_backend()
    try:
        heard = await listen(backend, args.seconds)
        stale = await stale_bonds(backend, site, heard)
        rows = []
        for h in sorted(heard.values(), key=lambda h: -h.rssi):
            paired = site.entries(h.address)
            node = paired[0].node if paired else (h.name or site.node_of(h.address))
            if node is None and h.pairing_open:
                # A node this gateway holds a lost bond with refuses even that read, another
                # may drop the link: each is listed (its id unknown), a stale bond told below.
                with contextlib.suppress(BleakError, BleError, TimeoutError):
                    node = await read_node_id(backend, h.address)
            ours = backend.central is not None and await backend.central.is_bonded(h.address)
            rows.append(
                ScanRow(
                    h.address,
                    h.rssi,
                    node,
                    h.pairing_open,
                    paired,
                    bonded_elsewhere=h.bonded and not ours,
                    bonded_here=ours,
                )
            )
    finally:
        await backend.close()
    if not rows:
        raise StepError(
            "no doorcount node heard",
            "check the nodes are powered (LED blip every 5 s) and the gateway's Bluetooth "
            f"({site.config.ble.backend}) works; listen longer with --seconds 15",
        )
    say(*scan_lines(rows))
    for s in stale:
        warn(f"node {s.node} no longer holds this gateway's bond", s.fix)
    return 0


async def pair(args: argparse.Namespace) -> int:
    import getpass

    from gateway.installer import pairing_flow
    from gateway.installer.label import is_label, parse_label
    from gateway.installer.site import Site
    from gateway.installer.view import StepError
    from gateway.protocol.gatt import parse_passkey

    site = Site(args.config)
    site.config.door_specs(site.pairings)  # a registry the config cannot merge: say so first
    if args.door not in {d.name for d in site.config.doors}:
        raise StepError(
            f"door {args.door!r} is not in the config",
            f'add [[doors]] name = "{args.door}" to {site.path}',
        )
    node, passkey = args.node, None
    if is_label(node):  # the label's QR code, scanned: node id and passkey in one
        node, passkey = parse_label(node)
    pairing_flow.check_beams_free(site, node, args.door, args.position, args.beam)
    if passkey is None:
        if args.passkey is None and not _has_terminal():  # a script, a pipe, systemd
            raise StepError(
                "no passkey given and no terminal to ask for it on",
                "pass the 6 digits on the node's label: --passkey 042913",
            )
        text = (
            args.passkey
            if args.passkey is not None
            else getpass.getpass("passkey on the label (or scan its QR code): ")
        )
        if is_label(text):
            scanned, passkey = parse_label(text)
            if scanned != node:
                raise StepError(
                    f"the scanned label is node {scanned}'s, not {node}'s",
                    f"scan the label inside {node}'s lid, or pair {scanned} instead",
                )
        else:
            passkey = parse_passkey(text)
    return tell(
        await pairing_flow.pair(
            site, node, args.door, args.position, args.beam, passkey, args.scan_seconds
        )
    )


async def unpair(args: argparse.Namespace) -> int:
    from gateway.installer import pairing_flow
    from gateway.installer.site import Site

    return tell(await pairing_flow.unpair(Site(args.config), args.node))


async def identify(args: argparse.Namespace) -> int:
    from gateway.installer import pairing_flow
    from gateway.installer.site import Site

    site = Site(args.config)
    return tell(await pairing_flow.identify(site, args.node, args.seconds, args.scan_seconds))


async def doors(args: argparse.Namespace) -> int:
    from gateway.installer.doors import doors as look
    from gateway.installer.site import Site
    from gateway.installer.view import fail

    report = await look(Site(args.config), offline=args.offline, seconds=args.seconds)
    say(*report.lines)
    for message, step in report.problems:
        fail(message, step)
    return 1 if report.problems else 0


@contextlib.contextmanager
def _ctrl_c() -> Iterator[asyncio.Event]:
    """An event Ctrl-C sets, so a session the installer ends still closes its links cleanly."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
        loop.add_signal_handler(signal.SIGINT, stop.set)  # main thread only
    try:
        yield stop
    finally:
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            loop.remove_signal_handler(signal.SIGINT)


async def live(args: argparse.Namespace) -> int:
    from gateway.installer.live import run_live
    from gateway.installer.site import Site

    site = Site(args.config)
    with _ctrl_c() as stop:
        await run_live(
            site,
            args.door,
            seconds=args.seconds,
            every=args.every,
            connect_timeout=args.connect_timeout,
            say=say,
            stop=stop,
        )
    return 0


async def audit(args: argparse.Namespace) -> int:
    from gateway.installer.audit import accept, save_audit
    from gateway.installer.auditrun import run_audit
    from gateway.installer.site import Site
    from gateway.installer.view import audit_lines, correction_lines

    site = Site(args.config)
    result = await run_audit(
        site,
        args.door,
        minutes=args.minutes,
        totals=args.totals,
        connect_timeout=args.connect_timeout,
        say=say,
    )
    say(*audit_lines(result))
    apply = args.yes or confirm(
        f"apply this correction to door {args.door}'s published counts (raw counts are kept)?"
    )
    result = replace(result, accepted=apply)
    save_audit(site.config.state_dir, result)
    if apply:
        say(*correction_lines(accept(site.config.state_dir, result)))
    else:
        say(f"audit stored; door {args.door}'s counts stay uncorrected")
    return 0


async def walktest(args: argparse.Namespace) -> int:
    from gateway.errors import ConfigError
    from gateway.installer.records import save_walktest
    from gateway.installer.site import Site
    from gateway.installer.view import fail, finding_lines, verdict_lines
    from gateway.installer.walkrun import run_walktest
    from gateway.installer.walktest import swap_door

    site = Site(args.config)
    with _ctrl_c() as stop:
        verdict = await run_walktest(
            site,
            args.door,
            walks=args.walks,
            direction=args.direction,
            timeout=args.timeout,
            connect_timeout=args.connect_timeout,
            say=say,
            stop=stop,
        )
    save_walktest(site.config.state_dir, verdict)  # for the commissioning report
    say(*verdict_lines(verdict))
    if verdict.ok:
        return 0
    for line in finding_lines(verdict.findings):
        print(line, file=sys.stderr, flush=True)
    if verdict.swapped:
        try:
            fixed = swap_door(site.pairings, args.door)
        except ConfigError:  # its beams come from the TOML file, which is never written
            return fail(*_config_swap(site, args.door))
        if args.yes or confirm(f"swap outer and inner of door {args.door} in the registry?"):
            site.save(fixed)
            say(
                f"fixed: door {args.door} outer and inner swapped in {site.config.registry_path}",
                f"next: doorcount walktest --door {args.door} (then restart the gateway service)",
            )
            return 0
        return fail(
            "outer and inner left as they are",
            f"swap them with doorcount walktest --door {args.door} --yes, or swap the heads",
        )
    return 1


def _config_swap(site: Site, door: str) -> tuple[str, str]:
    """Why the walk test cannot swap `door` itself, and the exact edit that does."""
    from gateway.installer import steps

    paired: dict[str, tuple[str, int]] = {
        p.position: (p.node, p.beam) for p in site.pairings if p.door == door
    }
    conf = next(d for d in site.config.doors if d.name == door)
    from_file = {
        pos: (ref.node, ref.beam)
        for pos, ref in (("outer", conf.outer), ("inner", conf.inner))
        if ref is not None and pos not in paired
    }
    return (
        f"door {door}'s {' and '.join(from_file)} beam{'s' if len(from_file) > 1 else ''} "
        f"come{'' if len(from_file) > 1 else 's'} from {site.path}, which no doorcount command "
        "writes",
        steps.config_swap_step(site.path, door, from_file, paired),
    )


def _has_terminal() -> bool:
    """Whether getpass has a terminal to ask on (it reads /dev/tty, else stdin)."""
    import os
    import sys

    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError:
        return sys.stdin.isatty()
    return True


def confirm(question: str) -> bool:
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")
