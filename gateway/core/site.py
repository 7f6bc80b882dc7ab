"""A site as its operator sees it: zones, door roles, and who a crossing counts as (sans-IO).

Each door joins the zone on its outer side to the zone on its inner side ("outside" is no
zone) and has a role:

- `entrance`: visitors come and go (and staff, and out-of-hours deliveries);
- `staff`: a staff-only door: its crossings are counted, as staff, never as visitors;
- `perimeter`: a beam pair along a frontage or a corridor; its crossings are passers-by in
  either direction and move nobody between zones;
- `internal`: between two zones; it moves people between them, not in or out of the site.

`SiteLayout.classify(crossing)` says who a crossing was (`Audience`) and where it took them
(`from_zone` -> `to_zone`). Precedence: a perimeter crossing is a passer-by; outside opening
hours (with grace) everything else is out-of-hours (cleaners, deliveries, staff opening up);
in opening hours a staff door (or, later, a registered badge) makes staff; everyone else is a
visitor. Occupancy counts everyone inside a zone; visitor figures count
visitors only. No crossing carries anything about the person beyond this class.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from gateway.core.events import Crossing
from gateway.core.hours import OpeningHours
from gateway.protocol.trace import Direction

Role = Literal["entrance", "staff", "perimeter", "internal"]
Audience = Literal["visitor", "staff", "out_of_hours", "passerby"]
AUDIENCES: tuple[Audience, ...] = ("visitor", "staff", "out_of_hours", "passerby")
OUTSIDE = "outside"
DEFAULT_ZONE = "inside"
"""The one zone of a site whose config names none."""

COUNT_NAMES: tuple[str, ...] = tuple(
    f"{prefix}_{way}"
    for prefix in ("visitors", "staff", "out_of_hours", "passersby")
    for way in ("in", "out")
)
"""Interval and tally fields of the audience split: visitors_in, visitors_out, staff_in, ..."""

_PREFIX: dict[Audience, str] = {
    "visitor": "visitors",
    "staff": "staff",
    "out_of_hours": "out_of_hours",
    "passerby": "passersby",
}


def count_name(audience: Audience, direction: str) -> str:
    """'visitor', 'in' -> 'visitors_in' (one of COUNT_NAMES)."""
    return f"{_PREFIX[audience]}_{direction}"


@dataclass(frozen=True, slots=True)
class DoorPlan:
    """A door's role and the zones on its two sides."""

    door: str
    role: Role = "entrance"
    outer_zone: str = OUTSIDE
    inner_zone: str = DEFAULT_ZONE

    def moves(self, direction: str) -> tuple[str, str] | None:
        """(from zone, to zone) of a crossing in `direction`; None for a perimeter beam."""
        if self.role == "perimeter":
            return None
        if direction == "in":
            return self.outer_zone, self.inner_zone
        return self.inner_zone, self.outer_zone


@dataclass(frozen=True, slots=True)
class Classified:
    """A crossing with who it counts as and where it took them (zones None: a passer-by)."""

    crossing: Crossing
    audience: Audience
    role: Role
    from_zone: str | None
    to_zone: str | None

    @property
    def site_direction(self) -> Direction | None:
        """'in'/'out' of the site when the crossing joined outside and a zone, else None."""
        if self.from_zone == OUTSIDE and self.to_zone not in (None, OUTSIDE):
            return "in"
        if self.to_zone == OUTSIDE and self.from_zone not in (None, OUTSIDE):
            return "out"
        return None


@dataclass(frozen=True, slots=True)
class SiteLayout:
    """Zones, door plans and opening hours of one site; the default is one zone, all
    entrances, always open, which is how a config without zones has always counted.

    `explicit` says the config named its zones: only then are zones published on their own
    (a single implicit zone is the site itself).
    """

    zones: tuple[str, ...] = (DEFAULT_ZONE,)
    doors: tuple[DoorPlan, ...] = ()
    hours: OpeningHours | None = None
    explicit: bool = False
    _by_door: dict[str, DoorPlan] = field(default_factory=dict, init=False, compare=False)

    def __post_init__(self) -> None:
        problems = list(check(self.zones, self.doors))
        if problems:
            raise ValueError("; ".join(problems))
        self._by_door.update((p.door, p) for p in self.doors)

    @classmethod
    def default(cls, doors: Iterable[str]) -> SiteLayout:
        return cls(doors=tuple(DoorPlan(d) for d in doors))

    def plan(self, door: str) -> DoorPlan:
        """A door the layout does not list is an entrance into the first zone."""
        plan = self._by_door.get(door)
        return plan if plan is not None else DoorPlan(door, inner_zone=self.zones[0])

    def zone_doors(self, zone: str) -> list[str]:
        """Doors with `zone` on one side (perimeter beams excluded)."""
        return [
            p.door
            for p in self.doors
            if p.role != "perimeter" and zone in (p.outer_zone, p.inner_zone)
        ]

    def classify(self, crossing: Crossing, *, badge: bool = False) -> Classified:
        """Who `crossing` counts as; `badge`: a registered staff badge was heard with it."""
        plan = self.plan(crossing.door)
        moves = plan.moves(crossing.direction)
        audience: Audience
        if plan.role == "perimeter":
            audience = "passerby"
        elif self.hours is not None and not self.hours.is_open(crossing.t):
            audience = "out_of_hours"
        elif plan.role == "staff" or badge:
            audience = "staff"
        else:
            audience = "visitor"
        from_zone, to_zone = moves if moves is not None else (None, None)
        return Classified(crossing, audience, plan.role, from_zone, to_zone)


def check(zones: Sequence[str], doors: Sequence[DoorPlan]) -> Iterable[str]:
    """Every problem of a layout, one phrase each (empty when it is sound)."""
    if not zones:
        yield "a site needs at least one zone"
    if OUTSIDE in zones:
        yield f"{OUTSIDE!r} is the world beyond the site, not a zone"
    for name in sorted({z for z in zones if list(zones).count(z) > 1}):
        yield f"zone {name!r} is listed twice"
    known = {*zones, OUTSIDE}
    for p in doors:
        if p.role == "perimeter":
            continue
        for side, zone in (("outer_zone", p.outer_zone), ("inner_zone", p.inner_zone)):
            if zone not in known:
                yield f"door {p.door!r} {side} {zone!r} is not a zone of the site"
        if p.outer_zone == p.inner_zone:
            yield f"door {p.door!r} has zone {p.inner_zone!r} on both sides"
        if p.role == "internal" and OUTSIDE in (p.outer_zone, p.inner_zone):
            yield f"internal door {p.door!r} must join two zones, not {OUTSIDE!r}"
