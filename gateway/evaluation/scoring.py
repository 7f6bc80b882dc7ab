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


def _match(
    truth: list[float], counted: list[float], window: float
) -> tuple[int, list[float], list[float]]:
    truth.sort()
    counted.sort()
    i = j = matched = 0
    missed: list[float] = []
    false: list[float] = []
    while i < len(truth) and j < len(counted):
        dt = counted[j] - truth[i]
        if dt < -window:
            false.append(counted[j])
            j += 1
        elif dt > window:
            missed.append(truth[i])
            i += 1
        else:
            matched += 1
            i += 1
            j += 1
    missed.extend(truth[i:])
    false.extend(counted[j:])
    return matched, missed, false


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
            matched, missed, false = _match(tt, cc, window)
            cells[door][direction] = Cell(len(tt), len(cc), matched, missed, false, tt, cc)
    return Score(cells)
