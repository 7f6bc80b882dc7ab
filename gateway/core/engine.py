"""The counting engine: beam-edge ticks in, crossings, occupancy and health events out.

Sans-IO and deterministic: no asyncio, no clock, no files. Time advances only through the ticks'
receive times (`feed`) or an explicit `advance(now)`, so the same code runs live, in replay at
CPU speed, and in tests, with the same results.

Per tick: drop duplicates by (node, boot, seq) and note gaps and reboots; feed the node's
clock model; file the edge under its door's open episode. An episode is decided once both beams
have been clear for `segment_gap_s` and the other node had `reorder_s` to deliver; an episode
seen on one beam only is held up to `hold_s` for a disconnected node's backlog, since a crossing
always breaks both beams. Deciding re-maps every edge with the latest clock fit, so early ticks
benefit from what was learned since (see gateway/core/decide.py for the decision itself).
"""

from __future__ import annotations

import bisect
import math
import pickle
import statistics
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Any, Self

from gateway.core.clock import ClockModel
from gateway.core.confidence import calibrated
from gateway.core.decide import INNER, OUTER, PASS_MAX_S, Limits, decide
from gateway.core.events import Crossing, DoorOccupancy, Event, Health
from gateway.core.tuning import DoorTuning, EngineConfig
from gateway.protocol.seqwindow import fill, give_up_below
from gateway.protocol.trace import DoorSpec, Tick

INF = float("inf")
CLOCK_WARMUP_POINTS = 16
"""A two-node door's episodes wait (up to `hold_s`) until both clocks have this many samples:
at boot, a few (node time, rx) pairs leave the alignment error near a connection interval."""
MAX_BOOTS = 4
"""Boots remembered per node, for late ticks of an earlier boot."""
TYPICAL_SAMPLES = 64
HAND_SAMPLES = 200
"""Crossing ends (two per clean single crossing) a door's hand model is learned from: the
last hour or so of a quiet door, minutes of a busy one."""
HAND_MIN = 8
"""Ends with a blip on either beam before a door may find its blips loose."""
HAND_LOOSE_PHI = 0.3
"""A door's blips are loose where the phi coefficient of (blip on outer, blip on inner) over
its crossing ends is below this. Measured with `python -m benchmarks.hands`
(`docs/engine.md`, "Which hand model a door follows"): hands that cross both beams give
0.67-0.83 (our simulator, doors up to 12 cm), blips drawn per beam 0.01-0.18."""
TRAFFIC_TAU_S = 600.0
"""A door's traffic rate is the crossings it counted, weighted down by e per this much time:
footfall changes over tens of minutes (a shop's hourly profile), not from one minute to the
next, and ten minutes hold enough crossings to estimate it on a quiet door."""
DEFAULT_LIMITS = Limits.of(DoorTuning())
_DERIVED = frozenset({"gap_s", "reorder_s", "limits"})
BEHIND_S = 0.8
"""Activity on one beam this long after the other beam's node was last heard of holds an
episode for that node's backlog (a walker's far-beam edges follow within a lag, ~0.1-0.5 s)."""


def _rebuild(cls: Any, state: dict[str, Any]) -> Any:
    """Unpickle without calling __init__ (works for plain and mypyc-compiled classes).

    A field missing from `state` (a snapshot written by an older version) gets its default.
    """
    obj = cls.__new__(cls)
    for name, value in state.items():
        setattr(obj, name, value)
    if is_dataclass(cls):
        for f in fields(cls):
            if f.name not in state:
                if f.default is not MISSING:
                    setattr(obj, f.name, f.default)
                elif f.default_factory is not MISSING:
                    setattr(obj, f.name, f.default_factory())
    return obj


def _reduce(obj: Any, names: Iterable[str]) -> tuple[Any, ...]:
    return (_rebuild, (type(obj), {name: getattr(obj, name) for name in names}))


@dataclass(slots=True)
class EngineStats:
    ticks: int = 0
    accepted: int = 0
    duplicates: int = 0
    unknown_node: int = 0
    unknown_beam: int = 0
    reboots: int = 0
    seq_lost: int = 0
    masked: int = 0
    """Ticks ignored because their door had a stuck beam."""
    episodes: int = 0
    rejected: int = 0
    """Breaks or pairs decided not to be a crossing (U-turns, strays, blips)."""
    entries: int = 0
    exits: int = 0


@dataclass(slots=True)
class _Boot:
    """One boot of one node: its sequence bookkeeping and clock model."""

    node: str
    boot: int
    clock: ClockModel
    next_seq: int = 0
    """Every seq below this was received (or declared lost)."""
    ahead: set[int] = field(default_factory=set)
    """Seqs received beyond a gap."""
    gap_since: float = INF
    """Gateway time the oldest open gap was noticed."""
    gap_from_t: float = INF
    """Gateway time of the last tick before the open gap."""
    last_t: float = -INF

    def __reduce__(self) -> tuple[Any, ...]:
        return _reduce(self, (f.name for f in fields(self)))


@dataclass(slots=True)
class _Node:
    name: str
    boots: dict[int, _Boot] = field(default_factory=dict)
    current: _Boot | None = None
    beams: dict[int, tuple[_Door, int]] = field(default_factory=dict)
    """Beam channel -> (door, OUTER/INNER)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return _reduce(self, (f.name for f in fields(self)))


# An edge waiting for its episode's decision:
# (estimated gateway time, role, broken, boot, node seconds).
_Edge = tuple[float, int, bool, _Boot, float]


def _edge_time(e: _Edge) -> float:
    return e[0]


def _add_boot(node: _Node, boot_id: int) -> _Boot:
    """Make `boot_id` the node's current boot, keeping its last `MAX_BOOTS` boots."""
    clock = ClockModel()
    if node.current is not None:
        clock.drift = node.current.clock.drift  # the same crystal after a reboot
    boot = _Boot(node.name, boot_id, clock)
    node.boots[boot_id] = boot
    node.current = boot
    if len(node.boots) > MAX_BOOTS:
        del node.boots[next(iter(node.boots))]
    return boot


def _new_episode(door: _Door, edge: _Edge) -> _Episode:
    episode = _Episode(door.tuning.glitch_s)
    episode.add(edge)
    return episode


@dataclass(slots=True)
class _Episode:
    """Edges of one stretch of activity at a door, sorted by estimated gateway time.

    `solid` is the time of the last edge that is not part of a glitch (a break and clear of
    one beam within `glitch`): a flickering beam must neither keep an episode open nor draw
    the next person into it. `pending` holds, per beam, the start of a break not yet cleared.
    Both are kept up to date as edges arrive in order, and rebuilt when one arrives late.
    """

    glitch: float
    edges: list[_Edge] = field(default_factory=list)
    solid: float = -INF
    pending: list[float | None] = field(default_factory=lambda: [None, None])

    def __reduce__(self) -> tuple[Any, ...]:
        return _reduce(self, (f.name for f in fields(self)))

    @property
    def start(self) -> float:
        return self.edges[0][0]

    @property
    def end(self) -> float:
        return self.edges[-1][0]

    def add(self, edge: _Edge) -> None:
        if not self.edges or edge[0] >= self.edges[-1][0]:
            self.edges.append(edge)
            self._track(edge[0], edge[1], edge[2])
        else:
            bisect.insort(self.edges, edge, key=_edge_time)
            self.solid, self.pending = -INF, [None, None]
            for t, role, broken, _, _ in self.edges:
                self._track(t, role, broken)

    def _track(self, t: float, role: int, broken: bool) -> None:
        began = self.pending[role]
        if broken:
            if began is None:
                self.pending[role] = t
        else:
            if began is None or t - began >= self.glitch:
                self.solid = t  # the end of a real break (or of one broken since before)
            self.pending[role] = None

    def open_since(self) -> float | None:
        """If a beam is still broken at the end, since when (the longest-broken beam)."""
        a, b = self.pending
        if a is None:
            return b
        if b is None:
            return a
        return min(a, b)

    def quiet_since(self) -> float:
        """When the episode last did something other than flicker."""
        return self.solid if self.solid > -INF else self.start

    def roles(self) -> int:
        seen = 0
        for e in self.edges:
            seen |= 1 << e[1]
            if seen == 3:
                break
        return seen


@dataclass(slots=True)
class _Door:
    spec: DoorSpec
    tuning: DoorTuning
    nodes: tuple[str, ...]
    episodes: list[_Episode] = field(default_factory=list)
    gap_s: float = 0.0
    """`tuning.segment_gap_s`, and below `tuning.reorder_s`, as plain floats: read per tick."""
    reorder_s: float = 0.0
    limits: Limits = DEFAULT_LIMITS
    """`tuning` as the decision reads it."""
    due: float = INF
    settle: float = -INF
    """No decision before this time: a node of the door is delivering a late backlog."""
    stuck: list[bool] = field(default_factory=lambda: [False, False])
    lengths: deque[float] = field(default_factory=lambda: deque(maxlen=TYPICAL_SAMPLES))
    typical: float | None = None
    """Median of `lengths`, once there are `split_after` of them."""
    lags: deque[float] = field(default_factory=lambda: deque(maxlen=TYPICAL_SAMPLES))
    walk_lag: float | None = None
    """Median of `lags` (single crossings' lags between the beams), once there are
    `split_after` of them."""
    hands: deque[tuple[bool, bool]] = field(default_factory=lambda: deque(maxlen=HAND_SAMPLES))
    hand_counts: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    """Of `hands`, the ends with no blip, one on inner only, outer only, both."""
    loose_hands: bool = False
    """The door's blips fall on each beam by themselves (`learn_hands`)."""
    entries: int = 0
    exits: int = 0
    traffic: float = 0.0
    """Crossings counted, each weighted down by e per `TRAFFIC_TAU_S` since (at `traffic_t`)."""
    traffic_t: float = -INF
    traffic_since: float = INF
    """When the door decided its first episode: the rate's time base until it is long."""

    def __reduce__(self) -> tuple[Any, ...]:
        # gap_s, reorder_s and limits are derived from `tuning`: `Engine.restore` rebuilds them.
        return _reduce(self, (f.name for f in fields(self) if f.name not in _DERIVED))

    def learn(self, lengths: list[float], lags: list[float]) -> None:
        if lengths:
            self.lengths.extend(lengths)
            if len(self.lengths) >= self.tuning.split_after:
                self.typical = statistics.median(self.lengths)
        if lags:
            self.lags.extend(lags)
            if len(self.lags) >= self.tuning.split_after:
                self.walk_lag = statistics.median(self.lags)

    def learn_hands(self, ends: list[tuple[bool, bool]]) -> None:
        """Add clean crossings' ends (`decide.hand_ends`) and say whether the door's blips are
        loose: once `HAND_MIN` of the last `HAND_SAMPLES` ends hold a blip, their phi
        coefficient (the correlation of the outer and the inner beam's blip) is below
        `HAND_LOOSE_PHI`. A hand that crosses both beams shows on both at one end."""
        if not ends:
            return
        n = self.hand_counts
        for outer, inner in ends:
            if len(self.hands) == HAND_SAMPLES:
                old_o, old_i = self.hands[0]
                n[2 * old_o + old_i] -= 1
            self.hands.append((outer, inner))
            n[2 * outer + inner] += 1
        n00, n01, n10, n11 = n[0], n[1], n[2], n[3]
        spread = (n10 + n11) * (n00 + n01) * (n01 + n11) * (n00 + n10)
        if n01 + n10 + n11 < HAND_MIN or spread == 0:
            self.loose_hands = False
            return
        self.loose_hands = (n11 * n00 - n10 * n01) / math.sqrt(spread) < HAND_LOOSE_PHI

    def crowd(self, t: float) -> float:
        """People expected to walk through this door the other way within `PASS_MAX_S` of
        time t: half its recent crossing rate (either way, as likely) times that window.
        The rate is the crossings over the time the door has been watched since its first
        one (which counts too): right after that crossing it reads high, so a new door is
        taken as busy until its quiet shows; infinite (unknown) before any crossing or when
        t is not after it (a receive time from before: no exposure to rate)."""
        age = t - self.traffic_since  # -inf before the first crossing
        if not age > 0.0:
            return INF
        weight = self.traffic * math.exp(-max(0.0, t - self.traffic_t) / TRAFFIC_TAU_S)
        seen = TRAFFIC_TAU_S * -math.expm1(-age / TRAFFIC_TAU_S)
        return weight / seen * PASS_MAX_S / 2

    def count(self, t: float, crossings: int) -> None:
        """Add an episode's crossings at time t to the door's traffic rate."""
        if self.traffic_since == INF:
            self.traffic_since = t
        if self.traffic_t != -INF:
            self.traffic *= math.exp(-max(0.0, t - self.traffic_t) / TRAFFIC_TAU_S)
        self.traffic += crossings
        self.traffic_t = max(t, self.traffic_t)


_ENGINE_STATE = (
    "config",
    "stats",
    "now",
    "_doors",
    "_beams",
    "_nodes",
    "_next_due",
    "_next_gap_check",
)


class Engine:
    """Counts crossings for a set of doors. Feed it ticks in receive order."""

    def __init__(self, doors: Sequence[DoorSpec] = (), config: EngineConfig | None = None) -> None:
        # `doors` has a default only so that a compiled (mypyc) Engine can be unpickled.
        self.config = config or EngineConfig()
        self.stats = EngineStats()
        self.now = -INF
        self._doors: list[_Door] = []
        self._beams: dict[tuple[str, int], tuple[_Door, int]] = {}
        self._nodes: dict[str, _Node] = {}
        for spec in doors:
            tuning = self.config.for_door(spec.door)
            door = _Door(
                spec,
                tuning,
                tuple(dict.fromkeys((spec.outer.node, spec.inner.node))),
                gap_s=tuning.segment_gap_s,
                reorder_s=tuning.reorder_s,
                limits=Limits.of(tuning),
            )
            self._doors.append(door)
            for role, ref in ((OUTER, spec.outer), (INNER, spec.inner)):
                key = (ref.node, ref.beam)
                if key in self._beams:
                    raise ValueError(f"beam {ref.node}/{ref.beam} belongs to two doors")
                self._beams[key] = (door, role)
                self._nodes.setdefault(ref.node, _Node(ref.node)).beams[ref.beam] = (door, role)
        self._next_due = INF
        self._next_gap_check = INF

    # -- public API -------------------------------------------------------------------------

    @property
    def doors(self) -> list[DoorSpec]:
        return [d.spec for d in self._doors]

    def feed(self, tick: Tick) -> list[Event]:
        """Take one received tick; return the events that became certain."""
        stats = self.stats
        stats.ticks += 1
        rx = now = tick.rx
        if rx > self.now:
            self.now = rx
        else:
            now = self.now
        events: list[Event] = []
        node = self._nodes.get(tick.node)
        if node is None:
            stats.unknown_node += 1
        else:
            boot = node.boots.get(tick.boot)
            if boot is None:
                boot = self._new_boot(node, tick, events)
            seq = tick.seq
            if seq == boot.next_seq and not boot.ahead:
                boot.next_seq = seq + 1  # the common case, inline
                fresh = True
            else:
                fresh = self._accept(boot, seq, now)
            if fresh:
                stats.accepted += 1
                node_s = tick.node_us * 1e-6
                clock = boot.clock
                clock.observe(node_s, rx)
                t = node_s + clock._offset + clock.drift * node_s  # clock.to_gateway, inline
                if t > boot.last_t:
                    boot.last_t = t
                target = node.beams.get(tick.beam)
                if target is None:
                    stats.unknown_beam += 1
                else:
                    self._file(target[0], (t, target[1], tick.broken, boot, node_s), rx, events)
        if now >= self._next_due or now >= self._next_gap_check:
            self._run_due(now, events)
        return events

    def locate(self, node: str, boot: int, node_us: int) -> tuple[str, float] | None:
        """(door, gateway time) of node time `node_us` of `boot`, by the clock fitted to its
        ticks; None for an unknown node or boot (a badge report before any tick of it)."""
        known = self._nodes.get(node)
        if known is None or not known.beams:
            return None
        found = known.boots.get(boot)
        if found is None:
            return None
        door = next(iter(known.beams.values()))[0]
        return door.spec.door, found.clock.to_gateway(node_us * 1e-6)

    def feed_many(self, ticks: Iterable[Tick]) -> list[Event]:  # noqa: PLR0912 - feed() inlined for the replay hot loop (mypyc)
        """`feed` for a batch (replay): the same events, with the loop's state kept local."""
        events: list[Event] = []
        stats = self.stats
        nodes = self._nodes
        file = self._file
        accepted = count = 0
        latest = self.now
        for tick in ticks:
            count += 1
            rx = now = tick.rx
            if rx > latest:
                latest = rx
            else:
                now = latest
            node = nodes.get(tick.node)
            if node is None:
                stats.unknown_node += 1
            else:
                boot = node.boots.get(tick.boot)
                if boot is None:
                    self.now = latest
                    boot = self._new_boot(node, tick, events)
                seq = tick.seq
                if seq == boot.next_seq and not boot.ahead:
                    boot.next_seq = seq + 1
                    fresh = True
                else:
                    fresh = self._accept(boot, seq, now)
                if fresh:
                    accepted += 1
                    node_s = tick.node_us * 1e-6
                    clock = boot.clock
                    clock.observe(node_s, rx)
                    t = node_s + clock._offset + clock.drift * node_s
                    if t > boot.last_t:
                        boot.last_t = t
                    target = node.beams.get(tick.beam)
                    if target is None:
                        stats.unknown_beam += 1
                    else:
                        file(target[0], (t, target[1], tick.broken, boot, node_s), rx, events)
            if now >= self._next_due or now >= self._next_gap_check:
                self.now = latest
                self._run_due(now, events)
        self.now = latest
        stats.ticks += count
        stats.accepted += accepted
        return events

    def advance(self, now: float) -> list[Event]:
        """Let time pass with no ticks (live: call every few hundred milliseconds)."""
        events: list[Event] = []
        if now > self.now:
            self.now = now
        if self.now >= self._next_due or self.now >= self._next_gap_check:
            self._run_due(self.now, events)
        return events

    def finish(self) -> list[Event]:
        """End of input: decide everything still open, as if much time had passed."""
        events: list[Event] = []
        for node in self._nodes.values():
            for boot in node.boots.values():
                if boot.ahead:
                    self._close_gap(boot, events, self.now)
        for door in self._doors:
            for episode in list(door.episodes):
                self._decide(door, episode, events, self.now)
            door.episodes.clear()
            door.due = INF
        self._next_due = INF
        return events

    def run(self, ticks: Iterable[Tick]) -> list[Event]:
        """Replay: feed every tick, then finish."""
        events = self.feed_many(ticks)
        events.extend(self.finish())
        return events

    def resume_points(self) -> dict[str, tuple[int, int]]:
        """Per node, the (boot, seq) to ask it to resend from after a gateway restart.

        Pair with `snapshot()`: the restored engine still holds every undecided tick, so
        the node only needs to resend what came after what this engine consumed.
        """
        out: dict[str, tuple[int, int]] = {}
        for name, node in self._nodes.items():
            if node.current is not None:
                out[name] = (node.current.boot, node.current.next_seq)
        return out

    def continue_from(self, resume: Mapping[str, tuple[int, int]]) -> None:
        """Take over from an earlier engine whose state is gone (unreadable after an upgrade,
        or the doors changed): each node's ticks before its resume point (boot, seq) were
        consumed there, so they are not a sequence gap to wait for. A no-op for the boots
        this engine already knows."""
        for name, (boot_id, seq) in resume.items():
            node = self._nodes.get(name)
            if node is not None and boot_id not in node.boots:
                _add_boot(node, boot_id).next_seq = seq

    def __reduce__(self) -> tuple[Any, ...]:
        return _reduce(self, _ENGINE_STATE)

    def snapshot(self) -> bytes:
        """The whole engine state, for a crash-safe restart (store it privately)."""
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def restore(cls, data: bytes) -> Self:
        """Inverse of `snapshot()`; only ever give it bytes this gateway wrote itself."""
        engine = pickle.loads(data)  # noqa: S301 - our own state file, created 0600
        if not isinstance(engine, cls):
            raise TypeError("snapshot does not hold an Engine")
        for door in engine._doors:  # derived from the tuning (absent from older snapshots)
            door.gap_s = door.tuning.segment_gap_s
            door.reorder_s = door.tuning.reorder_s
            door.limits = Limits.of(door.tuning)
        return engine

    # -- ingest ----------------------------------------------------------------------------

    def _new_boot(self, node: _Node, tick: Tick, events: list[Event]) -> _Boot:
        previous = node.current
        if previous is not None and tick.boot != previous.boot:
            self.stats.reboots += 1
            events.append(Health("node_reboot", tick.rx, node.name, detail=f"boot {tick.boot}"))
        return _add_boot(node, tick.boot)

    def _accept(self, boot: _Boot, seq: int, now: float) -> bool:
        if seq < boot.next_seq or seq in boot.ahead:
            self.stats.duplicates += 1
            return False
        if seq == boot.next_seq:
            boot.next_seq = seq + 1
            if boot.ahead:
                boot.next_seq = fill(boot.next_seq, boot.ahead)
                if not boot.ahead:
                    boot.gap_since = INF
                    boot.gap_from_t = INF
        else:
            if not boot.ahead:
                boot.gap_since = now
                boot.gap_from_t = boot.last_t
                gap_due = now + self.config.gap_timeout_s
                if gap_due < self._next_gap_check:
                    self._next_gap_check = gap_due
            boot.ahead.add(seq)
        return True

    def _close_gap(self, boot: _Boot, events: list[Event], now: float) -> None:
        first = min(boot.ahead)
        lost = first - boot.next_seq
        self.stats.seq_lost += lost
        events.append(
            Health(
                "seq_gap",
                now,
                boot.node,
                detail=f"boot {boot.boot}: seq {boot.next_seq}..{first - 1} never arrived",
            )
        )
        boot.next_seq, _ = give_up_below(boot.next_seq, boot.ahead, first)
        if boot.ahead:
            boot.gap_since = now
            boot.gap_from_t = boot.last_t
        else:
            boot.gap_since = INF
            boot.gap_from_t = INF

    # -- episodes --------------------------------------------------------------------------

    def _file(self, door: _Door, edge: _Edge, rx: float, events: list[Event]) -> None:  # noqa: PLR0912 - the per-door beam state machine
        t, role, broken = edge[0], edge[1], edge[2]
        stuck = door.stuck
        if stuck[0] or stuck[1]:
            if stuck[role]:
                if not broken:
                    stuck[role] = False
                    ref = door.spec.outer if role == OUTER else door.spec.inner
                    events.append(Health("beam_recovered", t, ref.node, door.spec.door, ref.beam))
                else:
                    self.stats.masked += 1
                return
            self.stats.masked += 1
            return
        gap = door.gap_s
        reorder = door.reorder_s
        if rx - t > reorder:
            # A late tick: its node is delivering a backlog (after a short disconnect), in a
            # burst that may span several receive times. Decide nothing of this door until
            # the burst has had `reorder_s` to finish, or half an episode would be decided.
            settle = rx + reorder
            if settle > door.settle:
                door.settle = settle
        episodes = door.episodes
        last = episodes[-1] if episodes else None
        if last is not None and t >= last.edges[-1][0]:
            pending = last.pending
            if (
                pending[0] is not None
                or pending[1] is not None
                or t <= (last.solid if last.solid > -INF else last.edges[0][0]) + gap
            ):
                # In order and close to the last real activity: nearly every tick.
                # (`_Episode.add` with its bookkeeping, inline for speed.)
                last.edges.append(edge)
                began = pending[role]
                if broken:
                    if began is None:
                        pending[role] = t
                else:
                    if began is None or t - began >= last.glitch:
                        last.solid = t
                    pending[role] = None
            else:
                self._file_slow(door, edge)
        else:
            self._file_slow(door, edge)
        due = t + gap + reorder
        if due < door.due:
            door.due = due
            if due < self._next_due:
                self._next_due = due

    def _file_slow(self, door: _Door, edge: _Edge) -> None:
        """Find (or open) the episode for an edge that is not simply the next one."""
        t = edge[0]
        gap = door.gap_s
        episodes = door.episodes
        index = len(episodes) - 1
        while index >= 0 and episodes[index].start > t + gap:
            index -= 1
        if index >= 0 and not edge[2]:
            index = self._owner_of_clear(episodes, index, edge[1])
        if index >= 0:
            episode = episodes[index]
            late = t < episode.end  # falls inside the episode: a delayed tick of it
            if late or t <= episode.quiet_since() + gap or episode.open_since() is not None:
                episode.add(edge)
                # The edge may now bridge to the next episode: join them.
                if index + 1 < len(episodes) and episodes[index + 1].start <= episode.end + gap:
                    later = episodes.pop(index + 1)
                    for e in later.edges:
                        episode.add(e)
            else:
                episodes.insert(index + 1, _new_episode(door, edge))
        else:
            episodes.insert(0, _new_episode(door, edge))

    @staticmethod
    def _owner_of_clear(episodes: list[_Episode], index: int, role: int) -> int:
        """The episode a late clear of beam `role` belongs to, from the one its time picked.

        A beam that broke in an earlier episode and has not cleared there stayed broken all
        the while: the activity since (the other beam's edges, filed first because this
        beam's node delivered late) is one stretch with it. Join those episodes and return
        the joined one; otherwise `index` unchanged.
        """
        if episodes[index].pending[role] is not None:
            return index
        k = index
        while k > 0 and not any(e[1] == role for e in episodes[k].edges):
            k -= 1
            if episodes[k].pending[role] is not None:
                joined = episodes[k]
                for later in episodes[k + 1 : index + 1]:
                    for e in later.edges:
                        joined.add(e)
                del episodes[k + 1 : index + 1]
                return k
        return index

    def _run_due(self, now: float, events: list[Event]) -> None:
        if now >= self._next_gap_check:
            self._next_gap_check = INF
            timeout = self.config.gap_timeout_s
            for node in self._nodes.values():
                for boot in node.boots.values():
                    if boot.ahead:
                        if now - boot.gap_since >= timeout:
                            self._close_gap(boot, events, now)
                        if boot.ahead:
                            self._next_gap_check = min(
                                self._next_gap_check, boot.gap_since + timeout
                            )
        next_due = INF
        for door in self._doors:
            if door.due <= now:
                self._process(door, now, events)
            next_due = min(next_due, door.due)
        self._next_due = next_due

    def _gap_open_before(self, door: _Door, t: float) -> bool:
        """Could a tick of this door's nodes from before `t` still be missing?"""
        for name in door.nodes:
            current = self._nodes[name].current
            if current is not None and current.ahead and current.gap_from_t <= t:
                return True
        return False

    def _process(self, door: _Door, now: float, events: list[Event]) -> None:
        tuning = door.tuning
        wait = door.gap_s + door.reorder_s
        due = INF
        for episode in list(door.episodes):
            since = episode.open_since()
            if since is not None:
                # Broken for `stuck_s`, and not merely a late backlog still arriving: a node
                # back from a long outage delivers old breaks whose clears are in the burst.
                stuck_at = max(since + tuning.stuck_s, door.settle)
                if now >= stuck_at:
                    self._stuck(door, episode, since, events, now)
                    continue
                due = min(due, stuck_at)
                continue
            end = episode.quiet_since()
            ready_at = max(end + wait, door.settle)
            # The reasons to hold on are only worth checking once it would be decided.
            if now >= ready_at and (
                (
                    (roles := episode.roles()) != 3
                    and not self._other_beam_current(door, roles, end + wait)
                )
                or self._gap_open_before(door, end + wait)
                or (
                    len(door.nodes) > 1
                    and (self._clocks_young(door) or self._node_behind(door, episode))
                )
            ):
                ready_at = max(ready_at, end + door.gap_s + tuning.hold_s)
            if now >= ready_at:
                door.episodes.remove(episode)
                self._decide(door, episode, events, now)
            else:
                due = min(due, ready_at)
        door.due = due

    def _other_beam_current(self, door: _Door, roles: int, t: float) -> bool:
        """An episode on one beam (`roles`): has the other beam's node delivered past `t`?
        Then its ticks for this episode, if any, would be here (a node sends in order; open
        sequence gaps are checked apart), and the episode needs no hold for a backlog."""
        spec = door.spec
        missing = spec.inner.node if roles == 1 << OUTER else spec.outer.node
        current = self._nodes[missing].current
        return current is not None and current.last_t >= t

    def _node_behind(self, door: _Door, episode: _Episode) -> bool:
        """Did one beam's node go quiet before the other beam's last activity here?

        A node that lost its link keeps buffering and delivers late, in one burst; meanwhile
        the other beam's edges arrive on time. A person always breaks both beams within
        a lag, so activity on one beam `BEHIND_S` after the other beam's node was last heard
        of may have its partner edges still in that node's buffer. Wait (up to
        `hold_s`) until that node delivers anything newer; an idle node's next tick, or
        the hold, releases the episode.
        """
        last = [-INF, -INF]
        seen = 0
        for edge in reversed(episode.edges):  # sorted by time: the last of each beam
            role = edge[1]
            if not seen & (1 << role):
                last[role] = edge[0]
                seen |= 1 << role
                if seen == 3:
                    break
        spec = door.spec
        for role, other in ((OUTER, spec.inner.node), (INNER, spec.outer.node)):
            current = self._nodes[other].current
            if current is not None and last[role] - current.last_t > BEHIND_S:
                return True
        return False

    def _clocks_young(self, door: _Door) -> bool:
        for name in door.nodes:
            current = self._nodes[name].current
            if current is None or current.clock.points < CLOCK_WARMUP_POINTS:
                return True
        return False

    def _stuck(
        self, door: _Door, episode: _Episode, since: float, events: list[Event], now: float
    ) -> None:
        """A beam broken for `stuck_s`: report it, decide what came before, mask the door."""
        stuck_edge = next(e for e in reversed(episode.edges) if e[0] == since and e[2])
        role = stuck_edge[1]
        ref = door.spec.outer if role == OUTER else door.spec.inner
        door.stuck[role] = True
        events.append(
            Health(
                "beam_stuck",
                since,
                ref.node,
                door.spec.door,
                ref.beam,
                detail=f"broken for {now - since:.0f} s; no counts until it clears",
            )
        )
        door.episodes.remove(episode)
        before = _Episode(door.tuning.glitch_s)
        for e in episode.edges:
            if e[0] < since:
                before.add(e)
        self.stats.masked += len(episode.edges) - len(before.edges)
        if before.edges:
            self._decide(door, before, events, now)

    def _decide(self, door: _Door, episode: _Episode, events: list[Event], now: float) -> None:
        self.stats.episodes += 1
        mapped = [
            (boot.clock.to_gateway(node_s), role, broken)
            for _, role, broken, boot, node_s in episode.edges
        ]
        mapped.sort()
        start = mapped[0][0] if mapped else now
        outcome = decide(
            mapped, door.limits, door.typical, door.crowd(start), door.loose_hands, door.walk_lag
        )
        door.count(start, len(outcome.crossings))
        self.stats.rejected += outcome.rejected
        door.learn(outcome.single_lengths, outcome.single_lags)
        door.learn_hands(outcome.hand_ends)
        name = door.spec.door
        for c in outcome.crossings:
            if c.direction == "in":
                door.entries += 1
                self.stats.entries += 1
            else:
                door.exits += 1
                self.stats.exits += 1
            confidence = calibrated(c.kind, c.confidence)
            events.append(Crossing(name, c.direction, c.t, c.kind, confidence, now))
        if outcome.crossings:
            events.append(DoorOccupancy(name, now, door.entries, door.exits))
