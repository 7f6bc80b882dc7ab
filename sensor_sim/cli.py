"""`sensor-sim`: generate doorway traces, serve them from simulated nodes, list the presets.

Each subcommand lives in `sensor_sim/commands/<name>.py` and exposes `register(subparsers)`
(the same discovery as the gateway's `doorcount` CLI), so more commands drop in as files.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from gateway import __version__
from gateway.cli import build_parser, run_cli
from sensor_sim import commands

DESCRIPTION = "Physics-based doorway traffic simulator writing doorcount-trace v1 files."


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(build_parser("sensor-sim", DESCRIPTION, commands, __version__, None), argv)


if __name__ == "__main__":
    sys.exit(main())
