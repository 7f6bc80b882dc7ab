"""Operator figures against truth: visitors, staff, out-of-hours and peak occupancy per site
and zone (`doorcount eval --json` -> `metrics`).

Both sides go through the same `SiteLayout`: a truth crossing's audience follows the same
rules as a counted one (perimeter beams are passers-by; outside opening hours everyone else is
out-of-hours), except that the truth knows who is staff (`who` of the truth line: staff,
deliveries and cleaners work for the site) where the gateway knows only staff doors. So the
errors measure counting and classification together, as an operator would see them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from gateway.core.events import Crossing
from gateway.core.site import OUTSIDE, Audience, Classified, SiteLayout
from gateway.evaluation.scoring import DIRECTIONS
from gateway.pipeline.occupancy import Occupancy
from gateway.protocol.trace import Truth

FIGURES = ("visitors_in", "staff_in", "out_of_hours_in", "occupancy_peak")
SITE = "site"


@dataclass(frozen=True, slots=True)
class Figure:
    truth: int
    counted: int

    def to_json(self) -> dict[str, Any]:
        error = self.counted - self.truth
        return {
            "truth": self.truth,
            "counted": self.counted,
            "error": error,
            "relative_error": round(error / self.truth, 6) if self.truth else None,
        }


def truth_counted(layout: SiteLayout, truth: Truth) -> Classified | None:
    """A truth crossing as the layout sees it, with the audience the truth knows."""
    if truth.direction not in DIRECTIONS:
        return None
    crossing = Crossing(truth.door, truth.direction, truth.t, truth.kind, 1.0, truth.t)
    seen = layout.classify(crossing)
    if seen.audience in ("passerby", "out_of_hours"):
        return seen
    audience: Audience = "visitor" if truth.who == "visitor" else "staff"
    return replace(seen, audience=audience)


def _tally(layout: SiteLayout, items: Sequence[Classified]) -> dict[str, dict[str, int]]:
    """Per area (the site, each zone): entries by audience and the peak occupancy."""
    areas = [SITE, *layout.zones]
    out = {a: {"visitors_in": 0, "staff_in": 0, "out_of_hours_in": 0} for a in areas}
    occupancy = {a: Occupancy([]) for a in areas}
    peaks = dict.fromkeys(areas, 0)
    for c in sorted(items, key=lambda c: c.crossing.t):
        moves: list[tuple[str, str]] = []
        site_direction = c.site_direction
        if site_direction is not None:
            moves.append((SITE, site_direction))
        if c.from_zone not in (None, OUTSIDE):
            moves.append((str(c.from_zone), "out"))
        if c.to_zone not in (None, OUTSIDE):
            moves.append((str(c.to_zone), "in"))
        for area, direction in moves:
            if area not in occupancy:
                continue
            occ = occupancy[area]
            occ.apply(replace(c.crossing, direction="in" if direction == "in" else "out"))
            peaks[area] = max(peaks[area], occ.state.occupancy)
            if direction == "in" and c.audience != "passerby":
                out[area][f"{_prefix(c.audience)}_in"] += 1
    for area in areas:
        out[area]["occupancy_peak"] = peaks[area]
    return out


def _prefix(audience: Audience) -> str:
    return {"visitor": "visitors", "staff": "staff", "out_of_hours": "out_of_hours"}[audience]


def _pairs(
    truth: Sequence[Classified], counted: Sequence[Classified], window: float
) -> Iterable[tuple[Classified, Classified]]:
    """Truth and counted crossings matched one to one per door and direction within
    `window` s, greedily in time order (as `gateway.evaluation.scoring` matches)."""
    keys = {(c.crossing.door, c.crossing.direction) for c in (*truth, *counted)}
    for key in sorted(keys):
        tt = sorted((c for c in truth if (c.crossing.door, c.crossing.direction) == key), key=_t)
        cc = sorted((c for c in counted if (c.crossing.door, c.crossing.direction) == key), key=_t)
        i = j = 0
        while i < len(tt) and j < len(cc):
            dt = cc[j].crossing.t - tt[i].crossing.t
            if dt < -window:
                j += 1
            elif dt > window:
                i += 1
            else:
                yield tt[i], cc[j]
                i += 1
                j += 1


def _t(c: Classified) -> float:
    return c.crossing.t


def metrics(
    layout: SiteLayout, truth: Iterable[Truth], counted: Iterable[Crossing], window: float = 1.0
) -> dict[str, Any]:
    """The `metrics` object: per area `{figure: {truth, counted, error, relative_error}}`,
    plus how matched crossings of visitors and staff were classified."""
    seen_truth = [c for t in truth if (c := truth_counted(layout, t)) is not None]
    seen = [layout.classify(c) for c in counted]
    t_tally, c_tally = _tally(layout, seen_truth), _tally(layout, seen)
    areas: dict[str, Any] = {}
    for area in [SITE, *layout.zones]:
        areas[area] = {
            name: Figure(t_tally[area][name], c_tally[area][name]).to_json() for name in FIGURES
        }
    classified = {"visitor": [0, 0], "staff": [0, 0]}  # [matched, counted as staff]
    for t, c in _pairs(seen_truth, seen, window):
        if t.audience in classified:
            classified[t.audience][0] += 1
            classified[t.audience][1] += c.audience == "staff"
    return {
        "site": areas[SITE],
        "zones": {zone: areas[zone] for zone in layout.zones} if layout.explicit else {},
        "visitors_counted_as_staff": _share(*classified["visitor"]),
        "staff_counted_as_staff": _share(*classified["staff"]),
    }


def _share(matched: int, as_staff: int) -> dict[str, Any]:
    return {
        "matched": matched,
        "as_staff": as_staff,
        "share": round(as_staff / matched, 6) if matched else None,
    }
