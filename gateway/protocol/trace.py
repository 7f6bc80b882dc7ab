"""The `doorcount-trace` v1 format: JSON Lines of a header, then ticks and truth.

This is a contract shared with independent trace generators; see `docs/trace-format.md`.
Parsing is hand-written rather than pydantic so a day-long trace replays at engine speed, and
every rejection names the line number and the field that was wrong.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gateway.errors import TraceError

FORMAT = "doorcount-trace"
VERSION = 1

Direction = Literal["in", "out"]
TruthDirection = Literal["in", "out", "none"]
Who = Literal["visitor", "staff", "delivery", "cleaner", "passerby"]
WHO: tuple[Who, ...] = ("visitor", "staff", "delivery", "cleaner", "passerby")


@dataclass(frozen=True, slots=True)
class BeamRef:
    """One beam: a node id and the node's beam channel."""

    node: str
    beam: int


@dataclass(frozen=True, slots=True)
class DoorSpec:
    """A doorway: the outer beam (outside) and the inner beam (inside)."""

    door: str
    outer: BeamRef
    inner: BeamRef


NodePosition = Literal["outer", "inner", "dual"]
"""Where a node sits in its door: one beam of a two-node door, or both (a dual-beam node)."""


@dataclass(frozen=True, slots=True)
class NodePlace:
    door: str
    position: NodePosition


def node_places(doors: Sequence[DoorSpec]) -> dict[str, NodePlace]:
    """Which door and beam position each node serves (the first door if it serves several)."""
    places: dict[str, NodePlace] = {}
    for spec in doors:
        if spec.outer.node == spec.inner.node:
            places.setdefault(spec.outer.node, NodePlace(spec.door, "dual"))
        else:
            places.setdefault(spec.outer.node, NodePlace(spec.door, "outer"))
            places.setdefault(spec.inner.node, NodePlace(spec.door, "inner"))
    return places


@dataclass(frozen=True, slots=True)
class TraceHeader:
    site: str
    doors: tuple[DoorSpec, ...]
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "header", "format": FORMAT, "version": VERSION}
        out["site"] = self.site
        out["doors"] = [
            {
                "door": d.door,
                "outer": {"node": d.outer.node, "beam": d.outer.beam},
                "inner": {"node": d.inner.node, "beam": d.inner.beam},
            }
            for d in self.doors
        ]
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out


@dataclass(frozen=True, slots=True)
class Tick:
    """One beam edge as the gateway received it.

    `node_us` is the node's own monotonic clock since boot (unwrapped); `rx` is the gateway's
    wall clock at reception, in Unix seconds.
    """

    node: str
    boot: int
    seq: int
    node_us: int
    beam: int
    broken: bool
    rx: float

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "tick",
            "node": self.node,
            "boot": self.boot,
            "seq": self.seq,
            "node_us": self.node_us,
            "beam": self.beam,
            "state": "broken" if self.broken else "clear",
            "rx": self.rx,
        }


@dataclass(frozen=True, slots=True)
class Truth:
    """Ground truth: when a person's middle crossed the middle between the beams."""

    door: str
    t: float
    direction: TruthDirection
    kind: str
    who: Who = "visitor"
    """Who crossed (`docs/trace-format.md`); absent from a line, and not written, for a
    visitor, so traces without it read as before."""
    badge: bool = False
    """The person wore a registered staff badge; written only when true."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "truth",
            "door": self.door,
            "t": self.t,
            "direction": self.direction,
            "kind": self.kind,
        }
        if self.who != "visitor":
            out["who"] = self.who
        if self.badge:
            out["badge"] = True
        return out


@dataclass(frozen=True, slots=True)
class Advance:
    """A recorded session's note that the gateway let time pass to `now` (no tick arrived).

    Only recordings of a live gateway carry these (`gateway.pipeline.recording`); replaying them
    makes `doorcount eval` decide exactly when the live gateway did. Other v1 readers skip
    them as an unknown line type.
    """

    now: float

    def to_json(self) -> dict[str, Any]:
        return {"type": "advance", "now": self.now}


@dataclass(frozen=True, slots=True)
class Visit:
    """Ground truth of one simulated visit: in by `door_in` at `t_in`, out by `door_out` at
    `t_out` (None: still inside when the trace ends), paid at a till at `purchase_t` (None:
    bought nothing). No identifier: a visit line is its own record. Readers before visit
    lines existed skip them as an unknown type."""

    door_in: str
    t_in: float
    door_out: str | None
    t_out: float | None
    purchase_t: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "visit",
            "door_in": self.door_in,
            "t_in": self.t_in,
            "door_out": self.door_out,
            "t_out": self.t_out,
            "purchase_t": self.purchase_t,
        }


@dataclass(frozen=True, slots=True)
class BadgeHeard:
    """A node's BADGE_SEEN as the gateway received it: a registered staff badge was heard
    with the beam episode that began at `node_us` (unwrapped node clock) and lasted
    `duration_us`, at best `rssi` dBm. No badge identity. Readers older than this line type
    skip it (unknown line types are forward compatible)."""

    node: str
    boot: int
    node_us: int
    duration_us: int
    rssi: int
    rx: float

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "badge",
            "node": self.node,
            "boot": self.boot,
            "node_us": self.node_us,
            "duration_us": self.duration_us,
            "rssi": self.rssi,
            "rx": self.rx,
        }


Record = Tick | Truth | Advance | Visit | BadgeHeard

MAX_NODE_US = 2**53
"""A node's clock since boot, exact as a float: 285 years of microseconds."""
MAX_RX_JUMP_S = 86400.0
"""A tick whose `rx` is this far from the ticks around it is quarantined (see TraceReader)."""
RX_CONFIRM = 3
"""This many consistent ticks in a row after a jump confirm it (the gateway was down a while)."""


def _need(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    if key not in obj:
        raise TraceError(f"{what} has no '{key}'")
    value = obj[key]
    # bool is an int subclass; a JSON true is never a valid number here.
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise TraceError(f"{what} '{key}' must be {_kind_name(kind)}, got {value!r}")
    if not isinstance(value, kind):
        raise TraceError(f"{what} '{key}' must be {_kind_name(kind)}, got {value!r}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds:
        return "a number"
    names = {str: "a string", int: "an integer", float: "a number", list: "a list"}
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


def _nonempty_str(obj: dict[str, Any], key: str, what: str) -> str:
    value: str = _need(obj, key, str, what)
    if not value:
        raise TraceError(f"{what} '{key}' must not be empty")
    return value


def _finite(obj: dict[str, Any], key: str, what: str) -> float:
    value = float(_need(obj, key, (int, float), what))
    if not math.isfinite(value):
        raise TraceError(f"{what} '{key}' must be finite, got {value!r}")
    return value


def _beam_ref(obj: Any, where: str) -> BeamRef:
    if not isinstance(obj, dict):
        raise TraceError(f'{where} must be an object like {{"node": "n1", "beam": 0}}')
    node = _nonempty_str(obj, "node", where)
    beam: int = _need(obj, "beam", int, where)
    if not 0 <= beam <= 255:
        raise TraceError(f"{where} 'beam' must be 0..255, got {beam}")
    return BeamRef(node, beam)


def parse_header(obj: Any) -> TraceHeader:
    """Validate a decoded header line."""
    if not isinstance(obj, dict) or obj.get("type") != "header":
        raise TraceError('the first line must be the header ({"type": "header", ...})')
    if obj.get("format") != FORMAT:
        raise TraceError(f"header 'format' must be {FORMAT!r}, got {obj.get('format')!r}")
    if obj.get("version") != VERSION:
        raise TraceError(f"header 'version' {obj.get('version')!r} is not supported (only 1)")
    site = _nonempty_str(obj, "site", "header")
    raw_doors = _need(obj, "doors", list, "header")
    if not raw_doors:
        raise TraceError("header 'doors' is empty: a trace needs at least one door")
    doors: list[DoorSpec] = []
    names: set[str] = set()
    beams: dict[BeamRef, str] = {}
    for i, raw in enumerate(raw_doors):
        where = f"header doors[{i}]"
        if not isinstance(raw, dict):
            raise TraceError(f"{where} must be an object")
        name = _nonempty_str(raw, "door", where)
        if name in names:
            raise TraceError(f"{where}: door {name!r} is listed twice")
        names.add(name)
        outer = _beam_ref(raw.get("outer"), f"{where} 'outer'")
        inner = _beam_ref(raw.get("inner"), f"{where} 'inner'")
        if outer == inner:
            raise TraceError(f"{where}: outer and inner are the same beam {outer}")
        for ref in (outer, inner):
            if ref in beams:
                raise TraceError(
                    f"{where}: beam {ref.node}/{ref.beam} is already used by door {beams[ref]!r}"
                )
            beams[ref] = name
        doors.append(DoorSpec(name, outer, inner))
    known = {"type", "format", "version", "site", "doors"}
    extra = {k: v for k, v in obj.items() if k not in known}
    return TraceHeader(site, tuple(doors), extra)


def parse_record(obj: Any) -> Record | None:  # noqa: C901, PLR0912 - a decoder: one check per field
    """Validate a decoded tick or truth line; unknown line types return None (forward compat)."""
    if not isinstance(obj, dict):
        raise TraceError("a line must be a JSON object")
    kind = obj.get("type")
    if kind == "tick":
        node = _nonempty_str(obj, "node", "tick")
        boot: int = _need(obj, "boot", int, "tick")
        seq: int = _need(obj, "seq", int, "tick")
        node_us: int = _need(obj, "node_us", int, "tick")
        beam: int = _need(obj, "beam", int, "tick")
        state = obj.get("state")
        if state == "broken":
            broken = True
        elif state == "clear":
            broken = False
        else:
            raise TraceError(f'tick \'state\' must be "broken" or "clear", got {state!r}')
        rx = _finite(obj, "rx", "tick")
        if seq < 0:
            raise TraceError(f"tick 'seq' must be >= 0, got {seq}")
        if not 0 <= node_us <= MAX_NODE_US:
            raise TraceError(f"tick 'node_us' must be 0..2**53 (285 years), got {node_us}")
        if not 0 <= beam <= 255:
            raise TraceError(f"tick 'beam' must be 0..255, got {beam}")
        return Tick(node, boot, seq, node_us, beam, broken, rx)
    if kind == "truth":
        door = _nonempty_str(obj, "door", "truth")
        t = _finite(obj, "t", "truth")
        direction = obj.get("direction")
        if direction not in ("in", "out", "none"):
            raise TraceError(f"truth 'direction' must be in, out or none, got {direction!r}")
        label = obj.get("kind", "")
        if not isinstance(label, str):
            raise TraceError(f"truth 'kind' must be a string, got {label!r}")
        who = obj.get("who", "visitor")
        if who not in WHO:
            raise TraceError(f"truth 'who' must be one of {', '.join(WHO)}, got {who!r}")
        badge = obj.get("badge", False)
        if not isinstance(badge, bool):
            raise TraceError(f"truth 'badge' must be true or false, got {badge!r}")
        return Truth(door, t, direction, label, who, badge)
    if kind == "advance":
        return Advance(_finite(obj, "now", "advance"))
    if kind == "badge":
        return _badge(obj)
    if kind == "visit":
        return _visit(obj)
    if kind == "header":
        raise TraceError("a second header line")
    if not isinstance(kind, str):
        raise TraceError(f"line has no string 'type' (got {kind!r})")
    return None


def _badge(obj: dict[str, Any]) -> BadgeHeard:
    node = _nonempty_str(obj, "node", "badge")
    boot: int = _need(obj, "boot", int, "badge")
    node_us: int = _need(obj, "node_us", int, "badge")
    duration_us: int = _need(obj, "duration_us", int, "badge")
    rssi: int = _need(obj, "rssi", int, "badge")
    if node_us < 0 or duration_us < 0:
        raise TraceError(
            f"badge 'node_us' and 'duration_us' must be >= 0, got {node_us}, {duration_us}"
        )
    if not -127 <= rssi <= 0:
        raise TraceError(f"badge 'rssi' must be -127..0 dBm, got {rssi}")
    return BadgeHeard(node, boot, node_us, duration_us, rssi, _finite(obj, "rx", "badge"))


def _visit(obj: dict[str, Any]) -> Visit:
    door_in = _nonempty_str(obj, "door_in", "visit")
    t_in = _finite(obj, "t_in", "visit")
    out = {}
    for key in ("door_out", "t_out", "purchase_t"):
        if key not in obj:
            raise TraceError(f"visit has no '{key}'")
        out[key] = obj[key]
    door_out = None if out["door_out"] is None else _nonempty_str(obj, "door_out", "visit")
    t_out = None if out["t_out"] is None else _finite(obj, "t_out", "visit")
    paid = None if out["purchase_t"] is None else _finite(obj, "purchase_t", "visit")
    if (door_out is None) != (t_out is None):
        raise TraceError("visit 'door_out' and 't_out' must both be set or both null")
    if t_out is not None and t_out < t_in:
        raise TraceError(f"visit 't_out' {t_out} is before 't_in' {t_in}")
    if paid is not None and (paid < t_in or (t_out is not None and paid > t_out)):
        raise TraceError(f"visit 'purchase_t' {paid} is outside the visit")
    return Visit(door_in, t_in, door_out, t_out, paid)


@dataclass(slots=True)
class BadLine:
    line: int
    reason: str


@dataclass(slots=True)
class TraceReader:
    """Streams a trace: `header` first, then records; collects bad lines if `skip_bad`.

    Takes lines as bytes (from a binary file) or str; a line that is not UTF-8 is a bad line.
    A well-formed tick whose `rx` is more than a day away from the ticks before it (a
    hand-edited or corrupted line, e.g. `rx` 0) would wreck the clock fit of its node for
    minutes; it is quarantined: not yielded, listed in `quarantined`. A jump that the next
    `RX_CONFIRM - 1` ticks confirm (a gateway that was down for days) is taken, and only the
    ticks before the confirmation are quarantined.
    """

    source: Iterable[bytes | str]
    skip_bad: bool = False
    quarantine: bool = True
    header: TraceHeader = field(init=False)
    bad: list[BadLine] = field(default_factory=list, init=False)
    quarantined: list[BadLine] = field(default_factory=list, init=False)
    lines: int = field(default=0, init=False)
    _it: Iterator[tuple[int, bytes | str]] = field(init=False)
    _rx: float | None = field(default=None, init=False)
    _held: list[tuple[int, Tick]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self._it = enumerate(self.source, start=1)
        for number, text in self._it:
            self.lines = number
            if not text.strip():
                continue
            try:
                self.header = parse_header(_loads(text))
            except TraceError as exc:
                raise TraceError(exc.reason, number) from None
            return
        raise TraceError("the trace is empty: no header line", 1)

    def __iter__(self) -> Iterator[Record]:
        for number, text in self._it:
            self.lines = number
            if not text.strip():
                continue
            try:
                record = parse_record(_loads(text))
            except TraceError as exc:
                if not self.skip_bad:
                    raise TraceError(exc.reason, number) from None
                self.bad.append(BadLine(number, exc.reason))
                continue
            if (
                isinstance(record, Tick)
                and self.quarantine
                and not self._rx_plausible(number, record)
            ):
                continue
            if record is not None:
                yield record
        for line, held in self._held:  # a jump nothing confirmed
            self._quarantine(line, held)
        self._held.clear()

    def _rx_plausible(self, number: int, tick: Tick) -> bool:
        """False for a tick to quarantine (see the class docstring)."""
        if self._rx is None or abs(tick.rx - self._rx) <= MAX_RX_JUMP_S:
            self._rx = tick.rx
            for line, held in self._held:
                self._quarantine(line, held)
            self._held.clear()
            return True
        if self._held and abs(tick.rx - self._held[-1][1].rx) > MAX_RX_JUMP_S:
            for line, held in self._held:
                self._quarantine(line, held)
            self._held.clear()
        self._held.append((number, tick))
        if len(self._held) < RX_CONFIRM:
            return False
        self._rx = tick.rx  # confirmed: the earlier ones were quarantined, this one counts
        for line, held in self._held[:-1]:
            self._quarantine(line, held)
        self._held.clear()
        return True

    def _quarantine(self, line: int, tick: Tick) -> None:
        self.quarantined.append(
            BadLine(
                line,
                f"tick rx {tick.rx} is more than {MAX_RX_JUMP_S:.0f} s from the ticks around "
                "it: quarantined",
            )
        )


def _loads(text: bytes | str) -> Any:
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(text)
    except UnicodeDecodeError as exc:
        raise TraceError(f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise TraceError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise TraceError("JSON nested too deeply") from None
    except ValueError as exc:  # a number longer than Python converts (4300 digits)
        digits = str(exc).split(";")[0].split(": ")[-1]
        raise TraceError(f"a number has too many digits ({digits})") from None


@contextmanager
def open_trace(
    path: str | Path, *, skip_bad: bool = False, quarantine: bool = True
) -> Iterator[TraceReader]:
    """Open a trace file for reading; use as a context manager."""
    with open(path, "rb") as raw:
        yield TraceReader(raw, skip_bad=skip_bad, quarantine=quarantine)


def dumps(obj: TraceHeader | Record) -> str:
    return json.dumps(obj.to_json(), separators=(",", ":"), ensure_ascii=False)


def write_trace(path: str | Path, header: TraceHeader, records: Iterable[Record]) -> int:
    """Write a whole trace; returns the number of records written."""
    count = 0
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        out.write(dumps(header) + "\n")
        for record in records:
            out.write(dumps(record) + "\n")
            count += 1
    return count
