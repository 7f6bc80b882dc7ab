"""The walk test's decision logic: an installer walks through a door when told, the engine
counts it live, and only the installer's own walks are evidence.

Sans-IO like the engine it wraps: `WalkTest` is fed the door's ticks and `advance(now)` calls
and returns what to show. It prompts each walk (`Prompt`) once the door is quiet, and a walk's
window stays open until its crossing is decided and the beams have been clear a while. In a
window, exactly one crossing is the installer's walk (`WalkResult`); none is a missed walk;
two or more mean someone else walked too (`crowded`): not evidence, the walk is asked again.
Crossings outside a window are other people's (`Ignored`).

A swap is proposed only on consistent evidence in both directions: every decided walk counted
the other way, at least `SWAP_EVIDENCE` walks IN and as many OUT. One direction alone, or a
mix, never proposes a swap (`verdict()`; `swap_door` is the registry fix).

The engine runs with a walk test's tuning: an episode that broke one beam only is decided
after `WALK_HOLD_S`, not after minutes (a walk test's nodes are connected and close, there is
no backlog to wait for), and a beam broken for `WALK_STUCK_S` is reported as stuck.
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

DEFAULT_WALKS = 2
"""Walks per direction."""
WALK_HOLD_S = 2.0
"""Decide a one-beam episode this soon (the engine's default waits 2 minutes for a backlog)."""
WALK_STUCK_S = 20.0
"""A beam broken this long during a walk test is stuck (nobody stands in a door under test)."""
QUIET_S = 1.0
"""The door must be quiet (beams clear, no edge) this long before a walk is prompted."""
CLOSE_AFTER_S = 3.0
"""A walk's window closes once the beams have been clear this long after its crossing
(longer than `WALK_HOLD_S`, so a crossing by someone else in the window is decided in it)."""
WINDOW_S = 20.0
"""A prompted walk not made within this long is missed."""
SWAP_EVIDENCE = 2
"""Walks per direction that must all count the other way before a swap is proposed."""
EXTRA_ATTEMPTS = 3
"""Walks asked again (missed or crowded) at most this many times per planned walk."""

DIRS: tuple[Direction, Direction] = ("in", "out")
FindingKind = Literal[
    "stuck", "silent", "quiet", "few", "swapped", "unconfirmed", "mixed", "crowded"
]
WalkStatus = Literal["ok", "wrong", "missed", "crowded"]
Plan = Literal["in", "out", "both"]


@dataclass(frozen=True, slots=True)
class NotCounted:
    """Beam breaks the engine decided were not a crossing (one beam only, a U-turn, a blip)."""

    t: float
    count: int = 1


@dataclass(frozen=True, slots=True)
class Prompt:
    """Tell the installer to walk now: walk `number` of `of`, in `direction`."""

    number: int
    of: int
    direction: Direction
    t: float
    again: bool = False


@dataclass(frozen=True, slots=True)
class WalkResult:
    """What one prompted walk showed."""

    number: int
    asked: Direction
    status: WalkStatus
    t: float
    counted: tuple[Crossing, ...] = ()

    @property
    def evidence(self) -> bool:
        return self.status in ("ok", "wrong")


@dataclass(frozen=True, slots=True)
class Ignored:
    """A crossing outside any walk's window: someone else, not evidence."""

    crossing: Crossing


Observation = Crossing | Health | NotCounted | Prompt | WalkResult | Ignored


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
    plan: tuple[Direction, ...]
    results: tuple[WalkResult, ...]
    breaks: dict[Position, int]
    """Broken edges seen per beam during the test."""
    not_counted: int
    ignored: int = 0
    findings: tuple[Finding, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def swapped(self) -> bool:
        return any(f.kind == "swapped" for f in self.findings)

    @property
    def decided(self) -> tuple[WalkResult, ...]:
        return tuple(r for r in self.results if r.evidence)

    @property
    def matching(self) -> int:
        return sum(1 for r in self.results if r.status == "ok")


def walk_plan(walks: int, direction: Plan) -> tuple[Direction, ...]:
    """The walks to ask for: `walks` per direction, alternating when both."""
    if walks < 1:
        raise ConfigError(f"a walk test needs at least 1 walk, got {walks}")
    if direction == "both":
        return tuple(d for _ in range(walks) for d in DIRS)
    return tuple(direction for _ in range(walks))


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
        walks: int = DEFAULT_WALKS,
        direction: Plan = "both",
        config: EngineConfig | None = None,
    ) -> None:
        config = config or EngineConfig()
        tuning = walk_tuning(config.for_door(door.door))
        self.door = door
        self.start = start
        self.plan = walk_plan(walks, direction)
        self.engine = Engine([door], config.model_copy(update={"doors": {door.door: tuning}}))
        self.results: list[WalkResult] = []
        self.stuck: set[Position] = set()
        self.breaks: dict[Position, int] = {"outer": 0, "inner": 0}
        self.not_counted = 0
        self.ignored = 0
        self._roles: dict[tuple[str, int], Position] = {
            (door.outer.node, door.outer.beam): "outer",
            (door.inner.node, door.inner.beam): "inner",
        }
        self._rejected = 0
        self._levels: dict[Position, bool] = {"outer": False, "inner": False}
        self._last_edge = start
        self._now = start
        self._attempts = 0
        self._window: Prompt | None = None
        self._in_window: list[Crossing] = []
        self._asked_again = False

    @property
    def done(self) -> bool:
        """Every planned walk gave evidence, or the attempts ran out."""
        decided = sum(1 for r in self.results if r.evidence)
        return self._window is None and (
            decided >= len(self.plan) or self._attempts >= len(self.plan) * (1 + EXTRA_ATTEMPTS)
        )

    @property
    def waiting(self) -> Prompt | None:
        """The walk being waited for (None between walks)."""
        return self._window

    def feed(self, tick: Tick) -> list[Observation]:
        role = self._roles.get((tick.node, tick.beam))
        if role is not None and tick.rx >= self.start:
            if tick.broken:
                self.breaks[role] += 1
            self._levels[role] = tick.broken
            self._last_edge = max(self._last_edge, tick.rx)
        out = self._observe(self.engine.feed(tick))
        self._now = max(self._now, tick.rx)
        return out

    def advance(self, now: float) -> list[Observation]:
        out = self._observe(self.engine.advance(now))
        self._now = max(self._now, now)
        return out + self._step(now)

    def finish(self) -> list[Observation]:
        """End of the test: decide what is still open, close a window left open."""
        out = self._observe(self.engine.finish())
        if self._window is not None:
            out.append(self._close(self._now))
        return out

    def _quiet(self, now: float, seconds: float) -> bool:
        return not any(self._levels.values()) and now - self._last_edge >= seconds

    def _step(self, now: float) -> list[Observation]:
        window = self._window
        if window is not None:
            if self._in_window and self._quiet(now, CLOSE_AFTER_S):
                return [self._close(now)]
            if not self._in_window and now - window.t >= WINDOW_S and self._quiet(now, 0.0):
                return [self._close(now)]
            return []
        if self.done or not self._quiet(now, QUIET_S):
            return []
        decided = sum(1 for r in self.results if r.evidence)
        self._attempts += 1
        prompt = Prompt(
            decided + 1, len(self.plan), self.plan[decided], now, again=self._asked_again
        )
        self._window = prompt
        self._in_window = []
        return [prompt]

    def _close(self, now: float) -> WalkResult:
        window = self._window
        assert window is not None
        crossings = tuple(self._in_window)
        status: WalkStatus
        if not crossings:
            status = "missed"
        elif len(crossings) > 1:
            status = "crowded"
        else:
            status = "ok" if crossings[0].direction == window.direction else "wrong"
        result = WalkResult(window.number, window.direction, status, now, crossings)
        self.results.append(result)
        self._asked_again = not result.evidence
        self._window = None
        self._in_window = []
        return result

    def _observe(self, events: list[Event]) -> list[Observation]:
        out: list[Observation] = []
        for event in events:
            if isinstance(event, Crossing):
                if event.t < self.start:
                    continue
                if self._window is not None and event.t >= self._window.t:
                    self._in_window.append(event)
                    out.append(event)
                else:
                    self.ignored += 1
                    out.append(Ignored(event))
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
            self.plan,
            tuple(self.results),
            dict(self.breaks),
            self.not_counted,
            frozenset(self.stuck),
            self.ignored,
        )


def judge(
    door: str,
    plan: tuple[Direction, ...],
    results: tuple[WalkResult, ...],
    breaks: dict[Position, int],
    not_counted: int,
    stuck: frozenset[Position] = frozenset(),
    ignored: int = 0,
) -> Verdict:
    """What the walk test found, worst first; no findings means the door counts right."""
    findings: list[Finding] = []
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
    decided = [r for r in results if r.evidence]
    wrong = {d: sum(1 for r in decided if r.asked == d and r.status == "wrong") for d in DIRS}
    right = {d: sum(1 for r in decided if r.asked == d and r.status == "ok") for d in DIRS}
    asked = set(plan)
    total_wrong = sum(wrong.values())
    if total_wrong and not any(right.values()):
        if asked == {"in", "out"} and all(wrong[d] >= SWAP_EVIDENCE for d in DIRS):
            findings.append(
                Finding(
                    "swapped",
                    f"every walk counted the other way ({wrong['in']} IN walks counted OUT, "
                    f"{wrong['out']} OUT walks counted IN): outer and inner are swapped",
                    "swap outer and inner for this door (this command offers to), then walk again",
                )
            )
        else:
            findings.append(
                Finding(
                    "unconfirmed",
                    f"{total_wrong} of {len(decided)} walks counted the other way; not enough "
                    "evidence to swap outer and inner",
                    f"walk {SWAP_EVIDENCE} times each way, alone: doorcount walktest --door "
                    f"{door} --direction both --walks {SWAP_EVIDENCE}",
                )
            )
    elif total_wrong:
        findings.append(
            Finding(
                "mixed",
                f"{total_wrong} of {len(decided)} walks counted the other way",
                "walk straight through, one at a time, at normal pace; then run it again",
            )
        )
    crowded = sum(1 for r in results if r.status == "crowded")
    if len(decided) < len(plan) and not (silent or stuck):
        if crowded:
            findings.append(
                Finding(
                    "crowded",
                    f"{crowded} walk{'s' if crowded != 1 else ''} had someone else crossing at "
                    "the same time",
                    "run the test when the door is quiet, or ask people to wait a moment",
                )
            )
        findings.append(
            Finding(
                "few",
                f"{len(decided)} of {len(plan)} walks counted",
                "walk through when told, one at a time, and run the test again",
            )
        )
    return Verdict(door, plan, results, breaks, not_counted, ignored, tuple(findings))


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
