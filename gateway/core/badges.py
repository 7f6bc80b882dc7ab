"""Opt-in staff badges: keyed rotating identifiers, the badge registry, and attributing a
crossing to staff when its node heard a registered badge with the beam episode (sans-IO).

A badge is a small BLE beacon with a 16-byte key. It advertises an Eddystone-EID frame whose
8-byte identifier is HMAC-SHA256(key, "doorcount-badge" + minute slot) truncated, new every
minute (`eid`): a bystander without the key sees unrelated random values and cannot follow a
badge from one minute to the next. Beam nodes hold the keys of their site and resolve what
they hear (firmware_notes/firmware/badgekey.py computes the very same bytes); a node reports
per beam episode only "a registered badge was heard, this strong" (`BADGE_SEEN`), never which.

The registry (`BadgeRegistry`, `<state_dir>/badges.json`, mode 0600) holds keys by group
label ("staff", "delivery", ...): no names. The gateway keeps no badge identity per crossing:
`BadgeMatcher` turns a node's badge episodes into "this crossing was staff", and only the
staff counts leave it.
"""

from __future__ import annotations

import bisect
import hmac
import json
import os
import re
import secrets
import struct
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path

from gateway.core.events import Crossing
from gateway.errors import DoorcountError

SLOT_S = 60
EID_LEN = 8
KEY_LEN = 16
_LABEL = b"doorcount-badge"
_GROUP = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class BadgeError(DoorcountError, ValueError):
    """A badge registry or badge command problem; the message says what was wrong."""


def eid(key: bytes, slot: int) -> bytes:
    """The identifier a badge with `key` advertises during minute `slot` (Unix s // 60)."""
    digest = hmac.new(key, _LABEL + struct.pack("<I", slot & 0xFFFF_FFFF), sha256).digest()
    return digest[:EID_LEN]


@dataclass(frozen=True, slots=True)
class Badge:
    """One registered badge: a random handle to remove it by, its group and its key."""

    handle: str
    group: str
    key: bytes
    added: str

    def to_json(self) -> dict[str, str]:
        return {
            "handle": self.handle,
            "group": self.group,
            "key": self.key.hex(),
            "added": self.added,
        }


@dataclass(slots=True)
class BadgeRegistry:
    """The site's badges, kept in `path` (JSON, readable by its owner only)."""

    path: Path
    badges: list[Badge] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> BadgeRegistry:
        if not path.exists():
            return cls(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            badges = [
                Badge(str(b["handle"]), str(b["group"]), bytes.fromhex(b["key"]), str(b["added"]))
                for b in raw["badges"]
            ]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BadgeError(f"badge registry {path} is unreadable: {exc}") from None
        for b in badges:
            if len(b.key) != KEY_LEN:
                raise BadgeError(
                    f"badge registry {path}: badge {b.handle} key is not {KEY_LEN} bytes"
                )
        return cls(path, badges)

    def save(self) -> None:
        """Atomically replace the file (write, fsync, rename), mode 0600."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"badges": [b.to_json() for b in self.badges]}, indent=2)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".badges-", suffix=".json")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(body + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def add(self, group: str, added: str, key: bytes | None = None) -> Badge:
        if not _GROUP.match(group):
            raise BadgeError(
                f"badge group {group!r} must be 1..32 of a-z, 0-9, '_' or '-', starting with a "
                "letter (a group like 'staff', not a person's name)"
            )
        key = secrets.token_bytes(KEY_LEN) if key is None else key
        if len(key) != KEY_LEN:
            raise BadgeError(f"a badge key is {KEY_LEN} bytes, got {len(key)}")
        handles = {b.handle for b in self.badges}
        handle = secrets.token_hex(3)
        while handle in handles:
            handle = secrets.token_hex(3)
        badge = Badge(handle, group, key, added)
        self.badges.append(badge)
        return badge

    def remove(self, handle: str) -> Badge:
        for i, b in enumerate(self.badges):
            if b.handle == handle:
                return self.badges.pop(i)
        known = ", ".join(b.handle for b in self.badges) or "none"
        raise BadgeError(f"no badge {handle!r} (registered: {known})")

    def keys(self) -> list[bytes]:
        return [b.key for b in self.badges]


@dataclass(frozen=True, slots=True)
class BadgeEpisode:
    """A node heard a registered badge with a beam episode at `door`, gateway time t0..t1."""

    door: str
    t0: float
    t1: float


@dataclass(slots=True)
class BadgeMatcher:
    """Which crossings were staff by badge: each badge episode claims one crossing at its door.

    A crossing matches an episode when its time lies within the episode widened by `slack`
    seconds (clock alignment error); of several candidates the nearest one wins, so a visitor
    who follows a badge wearer through the door in the same episode stays a visitor. The
    matcher keeps times and doors only: no badge, no key, no identifier.
    """

    slack: float = 0.5
    _episodes: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def add(self, episode: BadgeEpisode) -> None:
        items = self._episodes.setdefault(episode.door, [])
        bisect.insort(items, (episode.t0, episode.t1))

    def claim(self, crossing: Crossing) -> bool:
        """True (and the episode is used up) when a badge episode covers `crossing`."""
        items = self._episodes.get(crossing.door)
        if not items:
            return False
        t, best, best_d = crossing.t, None, 0.0
        for i, (t0, t1) in enumerate(items):
            if t0 - self.slack > t:
                break
            if t <= t1 + self.slack:
                d = 0.0 if t0 <= t <= t1 else min(abs(t - t0), abs(t - t1))
                if best is None or d < best_d:
                    best, best_d = i, d
        if best is None:
            return False
        items.pop(best)
        return True

    def forget_before(self, t: float) -> None:
        """Drop episodes that ended before `t` (no crossing can claim them any more)."""
        for door, items in self._episodes.items():
            self._episodes[door] = [e for e in items if e[1] + self.slack >= t]


def attribute(
    crossings: Iterable[Crossing], episodes: Iterable[BadgeEpisode], slack: float = 0.5
) -> set[int]:
    """Indices of `crossings` (in the given order) that badge episodes make staff.

    Crossings claim in time order, so the result does not depend on arrival order."""
    matcher = BadgeMatcher(slack)
    for e in episodes:
        matcher.add(e)
    items = list(crossings)
    order = sorted(range(len(items)), key=lambda i: items[i].t)
    return {i for i in order if matcher.claim(items[i])}
