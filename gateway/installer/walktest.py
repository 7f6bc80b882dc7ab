"""The walk test's decision logic: an installer walks through a door, the engine counts it live.

Sans-IO like the engine it wraps: `WalkTest` is fed the door's ticks and `advance(now)` calls,
returns what to show per walk, and `verdict()` says whether the door is fit to count: every
walk counted in the direction walked, both beams broke, nothing stuck. When most walks come
out the other way, outer and inner are swapped, and `swap_door` is the registry fix.

The engine runs with a walk test's tuning: an episode that broke one beam only is decided
after `WALK_HOLD_S`, not after minutes (a walk test's nodes are connected and close, there is
no backlog to wait for), which also lets a two-node door's first walks be decided before its
clock fits have many points; and a beam broken for `WALK_STUCK_S` is reported as stuck.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from gateway.config import Pairing, Position
from gateway.core.engine import Engine
from gateway.core.events import Crossing, Event, Health
from gateway.core.tuning import DoorTuning, EngineConfig
from gateway.errors import ConfigError
from gateway.protocol.trace import Direction, DoorSpec, Tick

DEFAULT_WALKS = 3
WALK_HOLD_S = 2.0
"""Decide a one-beam episode this soon (the engine's default waits 2 minutes for a backlog)."""
WALK_STUCK_S = 20.0
"""A beam broken this long during a walk test is stuck (nobody stands in a door under test)."""

FindingKind = Literal["stuck", "silent", "quiet", "few", "swapped", "mixed"]


@dataclass(frozen=True, slots=True)
class NotCounted:
    """Beam breaks the engine decided were not a crossing (one beam only, a U-turn, a blip)."""

    t: float
    count: int = 1


Observation = Crossing | Health | NotCounted


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong with the door, in the installer's words, with what to do next."""

    kind: FindingKind
    message: str
    next_step: str
    position: Position | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    door: str
    expected: Direction
    walks: int
    crossings: tuple[Crossing, ...]
    breaks: dict[Position, int]
    """Broken edges seen per beam during the test."""
    not_counted: int
    findings: tuple[Finding, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def swapped(self) -> bool:
        return any(f.kind == "swapped" for f in self.findings)

    @property
    def matching(self) -> int:
        return sum(1 for c in self.crossings if c.direction == self.expected)


def walk_tuning(tuning: DoorTuning) -> DoorTuning:
    """The door's own tuning with a walk test's hold and stuck times."""
    return tuning.model_copy(
        update={
            "hold_s": min(tuning.hold_s, WALK_HOLD_S),
            "stuck_s": min(tuning.stuck_s, WALK_STUCK_S),
        }
    )


class WalkTest:
    """Counts one door live for a walk test that started at gateway time `start`.

    Feed it every tick of the door's nodes in receive order and call `advance(now)` while none
    arrive; anything that happened before `start` (a node's backlog) is ignored.
    """

    def __init__(
        self,
        door: DoorSpec,
        start: float,
        *,
        expected: Direction = "in",
        walks: int = DEFAULT_WALKS,
        config: EngineConfig | None = None,
    ) -> None:
        if walks < 1:
            raise ConfigError(f"a walk test needs at least 1 walk, got {walks}")
        config = config or EngineConfig()
        tuning = walk_tuning(config.for_door(door.door))
        self.door = door
        self.start = start
        self.expected: Direction = expected
        self.walks = walks
        self.engine = Engine([door], config.model_copy(update={"doors": {door.door: tuning}}))
        self.crossings: list[Crossing] = []
        self.stuck: set[Position] = set()
        self.breaks: dict[Position, int] = {"outer": 0, "inner": 0}
        self.not_counted = 0
        self._roles: dict[tuple[str, int], Position] = {
            (door.outer.node, door.outer.beam): "outer",
            (door.inner.node, door.inner.beam): "inner",
        }
        self._rejected = 0

    @property
    def done(self) -> bool:
        """Every walk asked for was counted."""
        return len(self.crossings) >= self.walks

    def feed(self, tick: Tick) -> list[Observation]:
        role = self._roles.get((tick.node, tick.beam))
        if role is not None and tick.broken and tick.rx >= self.start:
            self.breaks[role] += 1
        return self._observe(self.engine.feed(tick))

    def advance(self, now: float) -> list[Observation]:
        return self._observe(self.engine.advance(now))

    def finish(self) -> list[Observation]:
        """End of the test: decide what is still open."""
        return self._observe(self.engine.finish())

    def _observe(self, events: list[Event]) -> list[Observation]:
        out: list[Observation] = []
        for event in events:
            if isinstance(event, Crossing):
                if event.t >= self.start:
                    self.crossings.append(event)
                    out.append(event)
            elif isinstance(event, Health) and event.door in (None, self.door.door):
                if event.kind == "beam_stuck":
                    self.stuck.add(self._role_of(event))  # worth fixing even if it cleared
                out.append(event)
        rejected = self.engine.stats.rejected
        if rejected > self._rejected:
            out.append(NotCounted(self.engine.now, rejected - self._rejected))
            self.not_counted += rejected - self._rejected
            self._rejected = rejected
        return out

    def _role_of(self, event: Health) -> Position:
        return self._roles.get((event.node, event.beam or 0), "outer")

    def verdict(self) -> Verdict:
        return judge(
            self.door.door,
            self.expected,
            self.walks,
            tuple(self.crossings),
            dict(self.breaks),
            self.not_counted,
            frozenset(self.stuck),
        )


def judge(
    door: str,
    expected: Direction,
    walks: int,
    crossings: tuple[Crossing, ...],
    breaks: dict[Position, int],
    not_counted: int,
    stuck: frozenset[Position] = frozenset(),
) -> Verdict:
    """What the walk test found, worst first; no findings means the door counts right."""
    findings: list[Finding] = []
    other = "out" if expected == "in" else "in"
    positions: tuple[Position, Position] = ("outer", "inner")
    for position in positions:
        if position in stuck:
            findings.append(
                Finding(
                    "stuck",
                    f"the {position} beam was broken for {WALK_STUCK_S:g} s or more (stuck)",
                    "clear the doorway; look for a wedge, mat, tape or door leaf in that beam",
                    position,
                )
            )
    silent = [p for p in positions if breaks.get(p, 0) == 0 and p not in stuck]
    if len(silent) == 2:
        findings.append(
            Finding(
                "quiet",
                "no beam broke during the test",
                "walk through the door; if you did, check both nodes are on and aligned "
                "(doorcount doors)",
            )
        )
    elif len(silent) == 1:
        position = silent[0]
        findings.append(
            Finding(
                "silent",
                f"the {position} beam never broke",
                f"align the {position} beam: in install mode the node's LED lights while a "
                "hand blocks it",
                position,
            )
        )
    matching = sum(1 for c in crossings if c.direction == expected)
    opposite = len(crossings) - matching
    if crossings and opposite * 2 > len(crossings) and len(crossings) >= min(walks, 2):
        findings.append(
            Finding(
                "swapped",
                f"{opposite} of {len(crossings)} walks counted {other.upper()} while you walked "
                f"{expected.upper()}: outer and inner look swapped",
                "swap outer and inner for this door (this command offers to), then walk again",
            )
        )
    elif opposite:
        findings.append(
            Finding(
                "mixed",
                f"{opposite} of {len(crossings)} walks counted {other.upper()}",
                "walk straight through, one at a time, at normal pace; then run it again",
            )
        )
    if len(crossings) < walks and not (silent or stuck):
        findings.append(
            Finding(
                "few",
                f"{len(crossings)} of {walks} walks counted",
                "walk through one at a time, a few seconds apart, and run the test again",
            )
        )
    return Verdict(door, expected, walks, crossings, breaks, not_counted, tuple(findings))


def swap_door(pairings: list[Pairing], door: str) -> list[Pairing]:
    """The registry with outer and inner exchanged for `door` (both must come from pairing)."""
    mine = [p for p in pairings if p.door == door]
    if {p.position for p in mine} != {"outer", "inner"}:
        raise ConfigError(
            f"door {door!r} does not get both beams from the pairing registry, so the walk test "
            "cannot swap them: swap `outer` and `inner` of that door in the config file"
        )
    flipped: dict[Position, Position] = {"outer": "inner", "inner": "outer"}
    return [
        p.model_copy(update={"position": flipped[p.position]}) if p.door == door else p
        for p in pairings
    ]
