"""`doorcount badge add/remove/list`: the site's opt-in staff badges, by group, no names.

Keys live in `<state_dir>/badges.json` (mode 0600, like the bond store). `add` makes a random
16-byte key and prints what to flash on the badge and what the beam nodes need; the key is
shown this once (and stays in the registry for the nodes' configuration).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

REGISTRY_NAME = "badges.json"


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "badge",
        help="register opt-in staff badges (keyed, rotating BLE identifiers; no names)",
        description=(
            "Staff badges make crossings staff when a beam node hears a registered badge at "
            "the door. Badges are kept by group label (e.g. 'staff'), never by person. See "
            "docs/privacy.md."
        ),
    )
    parser.add_argument("--config", "-c", type=Path, help="TOML config (for its state_dir)")
    parser.add_argument("--state-dir", type=Path, help="state directory (instead of --config)")
    sub = parser.add_subparsers(dest="badge_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="make a new badge key in a group and print it to flash")
    add.add_argument("group", nargs="?", default="staff", help="group label (default: staff)")
    add.set_defaults(handler=run_add)
    remove = sub.add_parser("remove", help="forget a badge by its handle")
    remove.add_argument("handle")
    remove.set_defaults(handler=run_remove)
    listing = sub.add_parser("list", help="registered badges: handle, group, date (no keys)")
    listing.set_defaults(handler=run_list)


def _registry_path(args: argparse.Namespace) -> Path:
    from gateway.errors import ConfigError

    if args.state_dir is not None:
        return Path(args.state_dir) / REGISTRY_NAME
    if args.config is not None:
        from gateway.config import load_config

        return load_config(args.config).state_dir / REGISTRY_NAME
    raise ConfigError("give --config or --state-dir")


def run_add(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from gateway.core.badges import BadgeRegistry

    registry = BadgeRegistry.load(_registry_path(args))
    badge = registry.add(args.group, datetime.now(UTC).date().isoformat())
    registry.save()
    print(f"badge {badge.handle} added to group {badge.group!r}")
    print(f"key (flash on the badge, then give the nodes the registry): {badge.key.hex()}")
    print(
        "the badge advertises Eddystone-EID (service 0xFEAA, frame 0x30): the first 8 bytes of "
        "HMAC-SHA256(key, 'doorcount-badge' + u32le(unix_time // 60)); set its clock to UTC"
    )
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from gateway.core.badges import BadgeRegistry

    registry = BadgeRegistry.load(_registry_path(args))
    badge = registry.remove(args.handle)
    registry.save()
    print(f"badge {badge.handle} removed from group {badge.group!r}; reconfigure the nodes")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from gateway.core.badges import BadgeRegistry

    registry = BadgeRegistry.load(_registry_path(args))
    if not registry.badges:
        print("no badges registered")
        return 0
    for b in registry.badges:
        print(f"{b.handle}  {b.group:<12} added {b.added}")
    return 0
