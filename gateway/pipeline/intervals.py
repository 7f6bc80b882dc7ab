"""Per-door interval counts that late ticks can correct (sans-IO).

An interval is published once it has ended (plus a grace period), with zeros for doors that
saw nobody, so a subscriber can tell "nobody came" from "nothing arrived". A crossing that
lands in an already-published interval (a node's backlog after a reconnect) marks it changed;
the next `close()` republishes it with the ABSOLUTE counts and revision + 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from gateway.core.events import Crossing
from gateway.core.site import Audience, count_name
from gateway.outputs.outbox import IntervalRow

RETENTION = 7 * 86400
"""How far back an interval can still be corrected; older rows are forgotten."""


@dataclass(slots=True)
class IntervalFigures:
    late: int = 0  # crossings that landed in an already-published interval
    corrections: int = 0  # republished intervals
    too_late: int = 0  # crossings older than RETENTION: not publishable as absolute counts


class Intervals:
    """The interval table of one site. Feed crossings with `add`, publish with `close`."""

    def __init__(
        self,
        doors: Sequence[str],
        seconds: int = 60,
        grace: float = 5.0,
        rows: Iterable[IntervalRow] = (),
        closed_until: int | None = None,
    ) -> None:
        self.doors = tuple(doors)
        self.seconds = seconds
        self.grace = grace
        self.rows: dict[tuple[str, int], IntervalRow] = {(r.door, r.start): r for r in rows}
        self.closed_until = closed_until
        self.figures = IntervalFigures()
        self._dirty: dict[tuple[str, int], IntervalRow] = {}
        self._pending = {k for k, r in self.rows.items() if r.changed or not r.published}
        self._pruned_before: int | None = None

    def start_of(self, t: float) -> int:
        return math.floor(t / self.seconds) * self.seconds

    def add(self, crossing: Crossing, audience: Audience | None = None) -> None:
        """Count a crossing in its interval; `audience` also counts it in the row's split."""
        start = self.start_of(crossing.t)
        if self.closed_until is not None and start < self.closed_until - RETENTION:
            self.figures.too_late += 1
            return
        key = (crossing.door, start)
        row = self.rows.get(key) or IntervalRow(
            crossing.door, start, self.seconds, 0, 0, 0, False, False
        )
        if row.published:
            self.figures.late += 1
        inbound = crossing.direction == "in"
        counts = row.counts
        if audience is not None:
            split = dict(counts)
            name = count_name(audience, crossing.direction)
            split[name] = split.get(name, 0) + 1
            counts = tuple(sorted(split.items()))
        self._put(
            replace(
                row,
                entries=row.entries + inbound,
                exits=row.exits + (not inbound),
                changed=row.published,
                counts=counts,
            )
        )
        self._pending.add(key)

    def close(self, now: float) -> list[IntervalRow]:
        """Rows to publish now: intervals that ended before `now - grace`, and corrections."""
        end = self.start_of(now - self.grace)  # first interval that may still be open
        if self.closed_until is None:
            self.closed_until = min([end, *(s for _, s in self.rows)])
        return self._publish(end)

    def flush(self) -> list[IntervalRow]:
        """Publish everything including the open interval (end of a replay or shutdown)."""
        latest = max((s for _, s in self.rows), default=self.closed_until)
        if latest is None:
            return []
        if self.closed_until is None:
            self.closed_until = min(s for _, s in self.rows)
        return self._publish(latest + self.seconds)

    def _publish(self, end: int) -> list[IntervalRow]:
        assert self.closed_until is not None
        if end - self.closed_until > RETENTION:
            self.closed_until = self.start_of(end - RETENTION)
        advanced = self.closed_until < end
        while self.closed_until < end:
            for door in self.doors:
                key = (door, self.closed_until)
                if key not in self.rows:
                    self.rows[key] = IntervalRow(
                        door, self.closed_until, self.seconds, 0, 0, 0, False, False
                    )
                    self._pending.add(key)
            self.closed_until += self.seconds
        out: list[IntervalRow] = []
        due = [k for k in self._pending if k[1] < self.closed_until]
        for key in sorted(due, key=lambda k: (k[1], k[0])):
            self._pending.discard(key)
            row = self.rows[key]
            if not row.published:
                out.append(self._put(replace(row, published=True, changed=False)))
            elif row.changed:
                self.figures.corrections += 1
                out.append(self._put(replace(row, revision=row.revision + 1, changed=False)))
        if advanced:
            horizon = self.closed_until - RETENTION
            stale = [k for k in self.rows if k[1] < horizon]
            for key in stale:
                del self.rows[key]
                self._dirty.pop(key, None)
                self._pending.discard(key)
            if stale:
                self._pruned_before = horizon
        return out

    def take_changes(self) -> tuple[list[IntervalRow], int | None]:
        """Rows changed since the last call (to persist) and a prune horizon, if any."""
        changed, self._dirty = list(self._dirty.values()), {}
        pruned, self._pruned_before = self._pruned_before, None
        return changed, pruned

    def _put(self, row: IntervalRow) -> IntervalRow:
        self.rows[(row.door, row.start)] = row
        self._dirty[(row.door, row.start)] = row
        return row
