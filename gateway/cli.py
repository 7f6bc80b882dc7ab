"""`doorcount`: the gateway's command line (service, installer and maintainer commands).

Each subcommand lives in `gateway/commands/<name>.py` and exposes `register(subparsers)`;
heavy imports happen inside the handlers so `doorcount --help` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Callable, Sequence

from gateway import __version__, commands
from gateway.errors import DoorcountError

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="doorcount",
        description="Anonymous doorway people counting: gateway, installer and maintainer tools.",
    )
    parser.add_argument("--version", action="version", version=f"doorcount {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # bumble logs passkeys and link keys at DEBUG: never let them reach a log.
    logging.getLogger("bumble").setLevel(max(level, logging.INFO))
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return handler(args)
    except DoorcountError as exc:
        print(f"doorcount {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
