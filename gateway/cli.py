"""`doorcount`: the gateway's command line (service, installer and maintainer commands).

Each subcommand lives in `gateway/commands/<name>.py` and exposes `register(subparsers)`;
heavy imports happen inside the handlers so `doorcount --help` stays instant. Commands that
live elsewhere (the simulator's `demo`) plug in through the `doorcount.commands` entry point
group, so the gateway never imports them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from types import ModuleType

from gateway import __version__, commands
from gateway.errors import DoorcountError

Handler = Callable[[argparse.Namespace], int]
DESCRIPTION = "Anonymous doorway people counting: gateway, installer and maintainer tools."


def build_parser(
    prog: str = "doorcount",
    description: str = DESCRIPTION,
    package: ModuleType = commands,
    version: str = __version__,
    plugins: str | None = "doorcount.commands",
) -> argparse.ArgumentParser:
    """A parser whose subcommands are the modules of `package` and of the `plugins` entry point
    group (each has `register`)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--version", action="version", version=f"{prog} {version}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        module.register(sub)
    if plugins is not None:
        for point in sorted(entry_points(group=plugins), key=lambda p: p.name):
            point.load().register(sub)
    return parser


def run_cli(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse, configure logging once, run the chosen handler; errors become exit codes."""
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
        print(f"{parser.prog} {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): not an error. Keep Python's exit flush quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    # The statistics here are small matrices (168 hour-of-week factors): BLAS threads only
    # contend, measured 10x slower per fit on a loaded two-core gateway. Before numpy loads.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    return run_cli(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
