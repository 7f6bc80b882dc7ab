"""`doorcount commission report`: the site's commissioning report, one HTML file."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from gateway.commands.installer_cli import DEFAULT_CONFIG, run


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "commission", help="commissioning records of a site: `commission report` writes its report"
    )
    sub = p.add_subparsers(dest="commission_command", metavar="ACTION", required=True)
    r = sub.add_parser(
        "report",
        help="one HTML file: doors, nodes (firmware, RSSI, battery), walk tests, audits, "
        "corrections and open warnings, with pictures",
    )
    r.add_argument(
        "--config",
        "-c",
        type=Path,
        default=Path(os.environ.get("DOORCOUNT_CONFIG", DEFAULT_CONFIG)),
        help="gateway config (default: $DOORCOUNT_CONFIG or %(default)s)",
    )
    r.add_argument(
        "--output",
        "-o",
        type=Path,
        help="where to write (default: <state_dir>/commissioning-SITE.html)",
    )
    r.add_argument("--offline", action="store_true", help="no Bluetooth: records and config only")
    r.add_argument("--seconds", type=float, default=5.0, help="how long to look for nodes")
    r.set_defaults(handler=lambda args: run(report(args), args))


async def report(args: argparse.Namespace) -> int:
    from gateway.installer.commission import default_path, gather, render
    from gateway.installer.site import Site

    site = Site(args.config)
    commissioning = await gather(site, offline=args.offline, seconds=args.seconds)
    path = args.output or default_path(site)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(commissioning), encoding="utf-8")
    print(
        f"wrote {path}: {len(commissioning.doors)} doors, {len(commissioning.nodes)} nodes, "
        f"{len(commissioning.warnings)} open warnings"
    )
    for message, step in commissioning.warnings:
        print(f"  warning: {message}")
        print(f"  next:    {step}")
    return 0
