"""Site occupancy from several doors: never negative, reset daily and after long idle (sans-IO).

Single-door counts drift (a missed exit keeps someone "inside" forever), so the site figure
has a floor at zero and can be reset at closing time or after a long quiet period. Both
corrections are counted: `corrected` is the data-quality figure of the imbalance removed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo

from gateway.core.events import Crossing
from gateway.core.site import Audience, count_name

ResetReason = Literal["daily", "idle"]


@dataclass(slots=True)
class DoorTally:
    entries: int = 0
    exits: int = 0

    @property
    def net(self) -> int:
        return self.entries - self.exits


@dataclass(slots=True)
class OccupancyState:
    """Everything that must survive a restart; JSON-able via `to_json`/`from_json`."""

    occupancy: int = 0
    entries: int = 0
    exits: int = 0
    corrected: int = 0  # since the last reset, the reset's own correction included
    corrected_total: int = 0  # since installation
    last_reset: float | None = None
    reset_reason: ResetReason | None = None
    last_activity: float | None = None
    checked_at: float | None = None
    doors: dict[str, DoorTally] = field(default_factory=dict)
    split: dict[str, int] = field(default_factory=dict)
    """Since the last reset, by audience and direction: visitors_in, staff_out, ..."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> OccupancyState:
        doors = {name: DoorTally(**tally) for name, tally in raw.pop("doors", {}).items()}
        return cls(**raw, doors=doors)


class Occupancy:
    """Apply crossings in decision order; call `tick(now)` to run the time-based resets."""

    def __init__(
        self,
        doors: Sequence[str],
        *,
        reset_time: dt.time | None = None,
        zone: ZoneInfo | None = None,
        idle_reset_hours: float | None = None,
        state: OccupancyState | None = None,
    ) -> None:
        self.reset_time = reset_time
        self.zone = zone or ZoneInfo("UTC")
        self.idle_seconds = None if idle_reset_hours is None else idle_reset_hours * 3600
        self.state = state or OccupancyState()
        for door in doors:
            self.state.doors.setdefault(door, DoorTally())
        self.changed_doors: set[str] = set()
        self.site_changed = False

    def apply(
        self, crossing: Crossing, *, moves: bool = True, audience: Audience | None = None
    ) -> None:
        """Count a crossing; one from before the last reset belongs to the previous period.

        `crossing.direction` is into or out of this area. `moves=False` tallies the door only
        (a perimeter beam, or an internal door seen from the whole site); `audience` also
        counts it in `split` as `<audience>_<direction>` (see `gateway.core.site`).
        """
        s = self.state
        if s.last_reset is not None and crossing.t < s.last_reset:
            return
        tally = s.doors.setdefault(crossing.door, DoorTally())
        inbound = crossing.direction == "in"
        tally.entries += inbound
        tally.exits += not inbound
        if audience is not None:
            name = count_name(audience, crossing.direction)
            s.split[name] = s.split.get(name, 0) + 1
        if moves and inbound:
            s.entries += 1
            s.occupancy += 1
        elif moves:
            s.exits += 1
            if s.occupancy == 0:
                s.corrected += 1
                s.corrected_total += 1
            else:
                s.occupancy -= 1
        s.last_activity = max(s.last_activity or crossing.t, crossing.t)
        self.changed_doors.add(crossing.door)
        self.site_changed = True

    def tick(self, now: float) -> ResetReason | None:
        """Run a due reset (daily first, then idle); returns its reason."""
        s = self.state
        before, s.checked_at = s.checked_at, max(now, s.checked_at or now)
        if before is None or now <= before:
            return None
        if self.reset_time is not None:
            boundary = self._last_daily_boundary(now)
            if before < boundary <= now:
                self._reset(boundary, "daily")
                return "daily"
        if self.idle_seconds is not None and s.last_activity is not None:
            due = s.last_activity + self.idle_seconds
            idle_since_reset = s.last_reset is None or s.last_reset < due
            if before < due <= now and idle_since_reset and (s.occupancy or s.entries or s.exits):
                self._reset(due, "idle")
                return "idle"
        return None

    def _last_daily_boundary(self, now: float) -> float:
        assert self.reset_time is not None
        local = dt.datetime.fromtimestamp(now, self.zone)
        at = dt.datetime.combine(local.date(), self.reset_time, tzinfo=self.zone)
        if at.timestamp() > now:
            at = dt.datetime.combine(
                local.date() - dt.timedelta(days=1), self.reset_time, tzinfo=self.zone
            )
        return at.timestamp()

    def _reset(self, at: float, reason: ResetReason) -> None:
        s = self.state
        s.corrected = s.occupancy
        s.corrected_total += s.occupancy
        s.occupancy = s.entries = s.exits = 0
        s.last_reset, s.reset_reason = at, reason
        s.split.clear()
        for name, tally in s.doors.items():
            if tally.entries or tally.exits:
                self.changed_doors.add(name)
            tally.entries = tally.exits = 0
        self.site_changed = True
