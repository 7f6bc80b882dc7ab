"""Zones, door roles and opening hours: who a crossing counts as and where it takes them."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from gateway.core.events import Crossing
from gateway.core.hours import OpeningHours, parse_span, weekly
from gateway.core.site import COUNT_NAMES, OUTSIDE, DoorPlan, SiteLayout, count_name

PARIS = ZoneInfo("Europe/Paris")


def at(day: str, hhmm: str, zone: ZoneInfo = PARIS) -> float:
    return dt.datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=zone).timestamp()


def crossing(door: str, direction: str, t: float) -> Crossing:
    return Crossing(door, direction, t, "single", 1.0, t)  # type: ignore[arg-type]


HOURS = OpeningHours(
    PARIS,
    weekly({"mon": ["09:00-12:00", "14:00-19:00"], "sat": ["22:00-02:00"]}),
    {dt.date(2026, 12, 7): (), dt.date(2026, 12, 6): (parse_span("10:00-12:00"),)},
    grace_before=15 * 60,
    grace_after=30 * 60,
)


@pytest.mark.parametrize(
    ("day", "hhmm", "is_open"),
    [
        ("2026-11-30", "08:44", False),  # Monday, before the grace
        ("2026-11-30", "08:45", True),  # 15 min grace before 09:00
        ("2026-11-30", "12:29", True),  # 30 min grace after 12:00
        ("2026-11-30", "13:00", False),  # the lunch break
        ("2026-11-30", "19:30", False),  # grace after 19:00 ends at 19:30
        ("2026-12-01", "10:00", False),  # Tuesday: not in the week: closed
        ("2026-12-05", "23:00", True),  # Saturday 22:00-02:00
        ("2026-12-06", "01:59", True),  # ... past midnight, into Sunday
        ("2026-12-06", "02:31", False),
        ("2026-12-06", "11:00", True),  # a special Sunday opening
        ("2026-12-07", "10:00", False),  # a holiday Monday
        ("2026-03-30", "09:00", True),  # the Monday after the change to summer time
        ("2026-10-26", "18:59", True),  # the Monday after the change back
    ],
)
def test_opening_hours_with_grace_exceptions_and_midnight(
    day: str, hhmm: str, *, is_open: bool
) -> None:
    assert HOURS.is_open(at(day, hhmm)) is is_open


def test_opening_spans_are_checked() -> None:
    with pytest.raises(ValueError, match="not HH:MM-HH:MM"):
        parse_span("9 to 5")
    with pytest.raises(ValueError, match="empty"):
        parse_span("09:00-09:00")
    with pytest.raises(ValueError, match="unknown weekday 'monday'"):
        weekly({"monday": ["09:00-10:00"]})


SHOP = SiteLayout(
    zones=("floor", "upstairs"),
    doors=(
        DoorPlan("front", "entrance", OUTSIDE, "floor"),
        DoorPlan("yard", "staff", OUTSIDE, "floor"),
        DoorPlan("stairs", "internal", "floor", "upstairs"),
        DoorPlan("pavement", "perimeter"),
    ),
    hours=HOURS,
    explicit=True,
)
OPEN = at("2026-11-30", "10:00")
CLOSED = at("2026-11-30", "22:00")


def test_who_a_crossing_counts_as_and_where_it_goes() -> None:
    cases = [
        (crossing("front", "in", OPEN), False, "visitor", OUTSIDE, "floor", "in"),
        (crossing("front", "out", OPEN), False, "visitor", "floor", OUTSIDE, "out"),
        (crossing("front", "in", OPEN), True, "staff", OUTSIDE, "floor", "in"),  # a badge
        (crossing("front", "in", CLOSED), False, "out_of_hours", OUTSIDE, "floor", "in"),
        (crossing("front", "in", CLOSED), True, "out_of_hours", OUTSIDE, "floor", "in"),
        (crossing("yard", "in", OPEN), False, "staff", OUTSIDE, "floor", "in"),
        (crossing("yard", "out", CLOSED), False, "out_of_hours", "floor", OUTSIDE, "out"),
        (crossing("stairs", "in", OPEN), False, "visitor", "floor", "upstairs", None),
        (crossing("stairs", "out", OPEN), False, "visitor", "upstairs", "floor", None),
        (crossing("pavement", "in", OPEN), False, "passerby", None, None, None),
        (crossing("pavement", "out", CLOSED), False, "passerby", None, None, None),
    ]
    for event, badge, audience, src, dst, site in cases:
        got = SHOP.classify(event, badge=badge)
        assert (got.audience, got.from_zone, got.to_zone, got.site_direction) == (
            audience,
            src,
            dst,
            site,
        ), event


def test_the_default_layout_is_one_zone_behind_entrances_always_open() -> None:
    layout = SiteLayout.default(["a", "b"])
    got = layout.classify(crossing("a", "in", CLOSED))
    assert (got.audience, got.from_zone, got.to_zone, got.site_direction) == (
        "visitor",
        OUTSIDE,
        "inside",
        "in",
    )
    assert layout.plan("unlisted").role == "entrance"  # a door from a trace, say
    assert not layout.explicit


def test_zone_doors_and_count_names() -> None:
    assert SHOP.zone_doors("floor") == ["front", "yard", "stairs"]
    assert SHOP.zone_doors("upstairs") == ["stairs"]
    assert count_name("visitor", "in") == "visitors_in"
    assert count_name("passerby", "out") == "passersby_out"
    assert len(set(COUNT_NAMES)) == 8


@pytest.mark.parametrize(
    ("zones", "doors", "message"),
    [
        ((), (), "at least one zone"),
        (("a", "a"), (), "zone 'a' is listed twice"),
        (("outside",), (), "'outside' is the world beyond"),
        (("a",), (DoorPlan("d", inner_zone="b"),), "door 'd' inner_zone 'b' is not a zone"),
        (("a",), (DoorPlan("d", outer_zone="a", inner_zone="a"),), "zone 'a' on both sides"),
        (("a",), (DoorPlan("d", "internal", OUTSIDE, "a"),), "internal door 'd' must join"),
    ],
)
def test_unsound_layouts_are_refused(
    zones: tuple[str, ...], doors: tuple[DoorPlan, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        SiteLayout(zones=zones, doors=doors)
