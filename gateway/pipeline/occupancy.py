"""Site occupancy from several doors: never negative, reset daily and after long idle (sans-IO).

Single-door counts drift (a missed exit keeps someone "inside" forever), so the site figure
has a floor at zero and can be reset at closing time or after a long quiet period. Both
corrections are counted: `corrected` is the data-quality figure of the imbalance removed.

With `interval_seconds`, the people inside are also integrated over time into per-interval
occupancy-seconds (person-seconds, additive over intervals, zones and sites), the numerator of
the Little's-law mean visit length (docs/visits.md). The integral follows the occupancy as
published: crossings in arrival order, the zero floor, the resets.
"""

from __future__ import annotations

import datetime as dt
import math
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
class SecondsBucket:
    """One interval of an area: person-seconds inside, and the crossings that moved people."""

    occupancy_s: float = 0.0
    entries: int = 0
    exits: int = 0
    corrected: int = 0  # exits with nobody inside: not subtracted (the zero floor)
    inside_end: int = 0  # people inside at the interval's end (or so far)
    split: dict[str, int] = field(default_factory=dict)


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
    occupancy_s: float = 0.0
    """Person-seconds inside since the last reset, up to `integrated_at`."""
    integrated_at: float | None = None
    """Occupancy-seconds are integrated up to here (None: before the first crossing)."""
    buckets: dict[int, SecondsBucket] = field(default_factory=dict)
    """Open and not yet taken intervals, by start."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> OccupancyState:
        raw = dict(raw)
        doors = {name: DoorTally(**tally) for name, tally in raw.pop("doors", {}).items()}
        buckets = {int(k): SecondsBucket(**b) for k, b in raw.pop("buckets", {}).items()}
        return cls(**raw, doors=doors, buckets=buckets)


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
        interval_seconds: int | None = None,
    ) -> None:
        self.reset_time = reset_time
        self.interval_seconds = interval_seconds
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
        bucket = self._bucket_at(crossing.t)
        floored = moves and not inbound and s.occupancy == 0
        if audience is not None:
            name = count_name(audience, crossing.direction)
            s.split[name] = s.split.get(name, 0) + 1
            if bucket is not None:
                bucket.split[name] = bucket.split.get(name, 0) + 1
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
        if bucket is not None and moves:
            bucket.entries += inbound
            bucket.exits += not inbound
            bucket.corrected += floored
            bucket.inside_end = s.occupancy
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

    def take_intervals(self, until: int) -> list[tuple[int, SecondsBucket]]:
        """Integrate up to `until` (an interval boundary) and hand over the intervals ended by
        then, oldest first, each once: every interval since the first crossing, 0 included."""
        if self.interval_seconds is None:
            return []
        self._integrate(until)
        s = self.state
        done = sorted(k for k in s.buckets if k + self.interval_seconds <= until)
        return [(k, s.buckets.pop(k)) for k in done]

    def occupancy_seconds(self, now: float) -> float | None:
        """Person-seconds inside from the last reset to `now` (read only: the integral itself
        advances with crossings and `take_intervals`); None without `interval_seconds`."""
        s = self.state
        if self.interval_seconds is None:
            return None
        if s.integrated_at is None:
            return 0.0
        return s.occupancy_s + s.occupancy * max(0.0, now - s.integrated_at)

    def _bucket_at(self, t: float) -> SecondsBucket | None:
        """Integrate up to `t`; the bucket a crossing at `t` counts in. A crossing from before
        the integration point (late, or out of order) counts at that point: time only runs
        forward in the integral."""
        if self.interval_seconds is None:
            return None
        self._integrate(t)
        s = self.state
        assert s.integrated_at is not None
        start = math.floor(s.integrated_at / self.interval_seconds) * self.interval_seconds
        return s.buckets.setdefault(start, SecondsBucket(inside_end=s.occupancy))

    def _integrate(self, t: float) -> None:
        s, step = self.state, self.interval_seconds
        if step is None:
            return
        if s.integrated_at is None:
            s.integrated_at = t
            return
        at = s.integrated_at
        while at < t:
            start = math.floor(at / step) * step
            right = min(float(start + step), t)
            bucket = s.buckets.setdefault(start, SecondsBucket(inside_end=s.occupancy))
            bucket.occupancy_s += s.occupancy * (right - at)
            s.occupancy_s += s.occupancy * (right - at)
            bucket.inside_end = s.occupancy
            at = right
        s.integrated_at = max(at, s.integrated_at)

    def _reset(self, at: float, reason: ResetReason) -> None:
        s = self.state
        self._integrate(at)
        s.corrected = s.occupancy
        s.corrected_total += s.occupancy
        s.occupancy = s.entries = s.exits = 0
        s.occupancy_s = 0.0
        if s.integrated_at is not None and at >= s.integrated_at:
            bucket = self._bucket_at(at)
            if bucket is not None:
                bucket.inside_end = 0
        s.last_reset, s.reset_reason = at, reason
        s.split.clear()
        for name, tally in s.doors.items():
            if tally.entries or tally.exits:
                self.changed_doors.add(name)
            tally.entries = tally.exits = 0
        self.site_changed = True
