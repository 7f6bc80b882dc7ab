"""The usual DIY rule, for comparison only: "outer then inner within 1 s is an entry".

It is what most hobby counters do: react to beam breaks in the order they arrive, with no
clock alignment, no debouncing beyond the arming window, no U-turn or tailgate logic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gateway.evaluation.scoring import Counted
from gateway.protocol.trace import DoorSpec, Tick

WINDOW_S = 1.0


def naive_count(doors: Sequence[DoorSpec], ticks: Iterable[Tick]) -> list[Counted]:
    beams: dict[tuple[str, int], tuple[str, int]] = {}
    for d in doors:
        beams[(d.outer.node, d.outer.beam)] = (d.door, 0)
        beams[(d.inner.node, d.inner.beam)] = (d.door, 1)
    armed: dict[str, tuple[int, float]] = {}
    seen: set[tuple[str, int, int]] = set()
    out: list[Counted] = []
    for tick in ticks:
        if not tick.broken:
            continue
        key = (tick.node, tick.boot, tick.seq)
        if key in seen:  # even a DIY gateway drops an exact duplicate
            continue
        seen.add(key)
        where = beams.get((tick.node, tick.beam))
        if where is None:
            continue
        door, role = where
        first = armed.get(door)
        if first is not None and first[0] != role and tick.rx - first[1] <= WINDOW_S:
            out.append(Counted(door, "in" if first[0] == 0 else "out", tick.rx))
            del armed[door]
        else:
            armed[door] = (role, tick.rx)
    return out
