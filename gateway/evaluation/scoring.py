"""Score counted crossings against a trace's truth: matching, event accuracy, count error.

Matching is one-to-one, per door and direction, within +-`window` seconds. For points on a
line with a symmetric window, matching greedily in time order gives a maximum matching.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.protocol.trace import Direction, Truth

DIRECTIONS: tuple[Direction, ...] = ("in", "out")


@dataclass(frozen=True, slots=True)
class Counted:
    door: str
    direction: Direction
    t: float


@dataclass(slots=True)
class Cell:
    """One door x direction."""

    truth: int = 0
    counted: int = 0
    matched: int = 0
    missed_at: list[float] = field(default_factory=list)
    false_at: list[float] = field(default_factory=list)
    truth_at: list[float] = field(default_factory=list)
    counted_at: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, int]:
        return {"truth": self.truth, "counted": self.counted, "matched": self.matched}


@dataclass(slots=True)
class Score:
    cells: dict[str, dict[Direction, Cell]]

    @property
    def event_accuracy(self) -> float:
        matched = sum(c.matched for c in self._all())
        denom = sum(max(c.truth, c.counted) for c in self._all())
        return matched / denom if denom else 1.0

    @property
    def count_error(self) -> float:
        err = sum(abs(c.counted - c.truth) for c in self._all())
        truth = sum(c.truth for c in self._all())
        if truth == 0:
            return 0.0 if err == 0 else float(err)
        return err / truth

    @property
    def truth_total(self) -> int:
        return sum(c.truth for c in self._all())

    @property
    def counted_total(self) -> int:
        return sum(c.counted for c in self._all())

    def _all(self) -> Iterable[Cell]:
        for by_dir in self.cells.values():
            yield from by_dir.values()

    def doors_json(self) -> dict[str, Any]:
        return {
            door: {d: cell.to_json() for d, cell in by_dir.items()}
            for door, by_dir in self.cells.items()
        }


def match(
    truth: Sequence[float], counted: Sequence[float], window: float = 1.0
) -> tuple[list[int], list[int], list[tuple[int, int]]]:
    """One-to-one matching of counted to true times within +-`window`, greedy in time order.

    Returns the indices of the unmatched truths (missed), of the unmatched counted crossings
    (false) and the matched (truth, counted) index pairs. The inputs are not reordered.
    """
    t_order = sorted(range(len(truth)), key=truth.__getitem__)
    c_order = sorted(range(len(counted)), key=counted.__getitem__)
    i = j = 0
    missed: list[int] = []
    false: list[int] = []
    pairs: list[tuple[int, int]] = []
    while i < len(t_order) and j < len(c_order):
        dt = counted[c_order[j]] - truth[t_order[i]]
        if dt < -window:
            false.append(c_order[j])
            j += 1
        elif dt > window:
            missed.append(t_order[i])
            i += 1
        else:
            pairs.append((t_order[i], c_order[j]))
            i += 1
            j += 1
    missed.extend(t_order[i:])
    false.extend(c_order[j:])
    return missed, false, pairs


def score(
    doors: Sequence[str],
    truth: Iterable[Truth],
    counted: Iterable[Counted],
    window: float = 1.0,
) -> Score:
    """Match counted crossings to truth crossings of the same door and direction."""
    t_times: dict[tuple[str, str], list[float]] = {}
    c_times: dict[tuple[str, str], list[float]] = {}
    for tr in truth:
        if tr.direction in DIRECTIONS:
            t_times.setdefault((tr.door, tr.direction), []).append(tr.t)
    for c in counted:
        c_times.setdefault((c.door, c.direction), []).append(c.t)
    names = list(dict.fromkeys([*doors, *(k[0] for k in t_times), *(k[0] for k in c_times)]))
    cells: dict[str, dict[Direction, Cell]] = {}
    for door in names:
        cells[door] = {}
        for direction in DIRECTIONS:
            tt = t_times.get((door, direction), [])
            cc = c_times.get((door, direction), [])
            tt.sort()
            cc.sort()
            missed, false, pairs = match(tt, cc, window)
            lost = [tt[k] for k in missed]
            extra = [cc[k] for k in false]
            cells[door][direction] = Cell(len(tt), len(cc), len(pairs), lost, extra, tt, cc)
    return Score(cells)


RELIABILITY_EDGES = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)


@dataclass(frozen=True, slots=True)
class ReliabilityBin:
    """Counted crossings whose confidence fell in [lo, hi) ([lo, 1] for the last), and how
    many of them matched a true crossing."""

    lo: float
    hi: float
    crossings: int
    right: int

    @property
    def share_right(self) -> float | None:
        return self.right / self.crossings if self.crossings else None

    def to_json(self) -> dict[str, Any]:
        share = self.share_right
        return {
            "confidence": f"{self.lo:g}-{self.hi:g}",
            "crossings": self.crossings,
            "share_right": None if share is None else round(share, 4),
        }


def reliability(
    truth: Iterable[Truth],
    counted: Iterable[tuple[Counted, float]],
    window: float = 1.0,
    edges: Sequence[float] = RELIABILITY_EDGES,
) -> list[ReliabilityBin]:
    """Per confidence bin: counted crossings and how many were right, matched to the truth
    exactly as `score` matches them (same door and direction, within `window`)."""
    t_times: dict[tuple[str, str], list[float]] = {}
    for tr in truth:
        if tr.direction in DIRECTIONS:
            t_times.setdefault((tr.door, tr.direction), []).append(tr.t)
    by_key: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for c, conf in counted:
        by_key.setdefault((c.door, c.direction), []).append((c.t, conf))
    n = len(edges) - 1
    total, right = [0] * n, [0] * n

    def slot(conf: float) -> int:
        for k in range(n - 1, -1, -1):
            if conf >= edges[k]:
                return k
        return 0

    for key, cs in by_key.items():
        cs.sort()
        tt = sorted(t_times.get(key, []))
        i = 0
        for t, conf in cs:
            k = slot(conf)
            total[k] += 1
            while i < len(tt) and t - tt[i] > window:
                i += 1  # a truth no later crossing can reach: missed
            if i < len(tt) and abs(t - tt[i]) <= window:
                right[k] += 1
                i += 1
    return [ReliabilityBin(edges[k], edges[k + 1], total[k], right[k]) for k in range(n)]
