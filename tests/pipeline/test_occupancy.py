"""Site occupancy: never negative, daily and idle resets, the corrected figure."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from gateway.core.events import Crossing
from gateway.pipeline.occupancy import Occupancy, OccupancyState

BERLIN = ZoneInfo("Europe/Berlin")


def _c(door: str, t: float, direction: str = "in") -> Crossing:
    return Crossing(door, direction, t, "single", 1.0, t)  # type: ignore[arg-type]


def _ts(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=BERLIN).timestamp()


def test_several_doors_add_up_and_the_floor_is_zero() -> None:
    occ = Occupancy(["front", "back"])
    t = _ts("2025-06-03 10:00")
    occ.apply(_c("front", t))
    occ.apply(_c("front", t + 1))
    occ.apply(_c("back", t + 2, "out"))
    occ.apply(_c("back", t + 3, "out"))
    occ.apply(_c("back", t + 4, "out"))  # nobody left to leave: corrected, not negative
    s = occ.state
    assert (s.occupancy, s.entries, s.exits, s.corrected, s.corrected_total) == (0, 2, 3, 1, 1)
    assert (s.doors["front"].net, s.doors["back"].net) == (2, -3)
    assert occ.changed_doors == {"front", "back"}


def test_daily_reset_at_local_closing_time_reports_what_it_removed() -> None:
    occ = Occupancy(["front"], reset_time=dt.time(3, 0), zone=BERLIN)
    occ.tick(_ts("2025-06-03 20:00"))
    for i in range(3):
        occ.apply(_c("front", _ts("2025-06-03 20:00") + i))
    assert occ.tick(_ts("2025-06-04 02:59")) is None
    assert occ.tick(_ts("2025-06-04 03:01")) == "daily"
    s = occ.state
    assert (s.occupancy, s.entries, s.corrected, s.corrected_total) == (0, 0, 3, 3)
    assert s.last_reset == _ts("2025-06-04 03:00")
    assert s.reset_reason == "daily"
    assert occ.tick(_ts("2025-06-04 12:00")) is None  # once a day


def test_daily_reset_follows_daylight_saving_time() -> None:
    occ = Occupancy(["front"], reset_time=dt.time(3, 30), zone=BERLIN)
    occ.tick(_ts("2025-10-25 12:00"))
    occ.apply(_c("front", _ts("2025-10-25 12:00")))
    occ.tick(_ts("2025-10-26 12:00"))  # the day clocks go back: 3:30 CET is 02:30 UTC
    assert occ.state.last_reset == dt.datetime(2025, 10, 26, 2, 30, tzinfo=dt.UTC).timestamp()


def test_idle_reset_after_a_quiet_period() -> None:
    occ = Occupancy(["front"], idle_reset_hours=2)
    t = _ts("2025-06-03 10:00")
    occ.tick(t)
    occ.apply(_c("front", t))
    assert occ.tick(t + 7199) is None
    assert occ.tick(t + 7300) == "idle"
    assert (occ.state.last_reset, occ.state.corrected) == (t + 7200, 1)
    assert occ.tick(t + 20000) is None  # nothing happened since: no second reset


def test_a_late_crossing_from_before_the_reset_is_not_counted_again() -> None:
    occ = Occupancy(["front"], reset_time=dt.time(3, 0), zone=BERLIN)
    occ.tick(_ts("2025-06-04 02:00"))
    occ.tick(_ts("2025-06-04 03:30"))
    occ.apply(_c("front", _ts("2025-06-04 02:50")))
    assert occ.state.entries == 0


def test_state_round_trips_as_json() -> None:
    occ = Occupancy(["front"])
    occ.apply(_c("front", 100.0))
    raw = occ.state.to_json()
    again = OccupancyState.from_json(dict(raw))
    assert again == occ.state
