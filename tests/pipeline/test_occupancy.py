"""Site occupancy: never negative, daily and idle resets, the corrected figure."""

from __future__ import annotations

import datetime as dt
import json
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


def test_occupancy_seconds_integrate_the_people_inside_per_interval() -> None:
    """Two people in for 90 s and 30 s across two minutes: 120 person-seconds, split by
    interval; an exit at zero is floored (corrected), never subtracted."""
    occ = Occupancy(["front"], interval_seconds=60)
    t = 1_800_000_000  # a minute boundary
    occ.apply(_c("front", t + 30))  # A in
    occ.apply(_c("front", t + 50))  # B in
    occ.apply(_c("front", t + 80, "out"))  # B out: 30 s
    occ.apply(_c("front", t + 120, "out"))  # A out: 90 s
    occ.apply(_c("front", t + 150, "out"))  # nobody left: corrected
    rows = occ.take_intervals(t + 180)
    assert [
        (k - t, b.occupancy_s, b.entries, b.exits, b.corrected, b.inside_end) for k, b in rows
    ] == [
        (0, 40.0, 2, 0, 0, 2),
        (60, 80.0, 0, 1, 0, 1),
        (120, 0.0, 0, 2, 1, 0),
    ]
    assert sum(b.occupancy_s for _, b in rows) == 30 + 90
    assert occ.take_intervals(t + 180) == []  # each interval once
    assert [b.occupancy_s for _, b in occ.take_intervals(t + 300)] == [0.0, 0.0]  # 0 is a real 0


def test_occupancy_seconds_stop_at_the_reset_and_survive_a_restart() -> None:
    occ = Occupancy(["front"], reset_time=dt.time(3, 0), zone=BERLIN, interval_seconds=3600)
    evening = _ts("2025-06-03 22:00")
    occ.apply(_c("front", evening))  # a missed exit: a phantom until the 03:00 reset
    occ.tick(evening + 60)
    state = OccupancyState.from_json(json.loads(json.dumps(occ.state.to_json())))
    occ = Occupancy(
        ["front"], reset_time=dt.time(3, 0), zone=BERLIN, interval_seconds=3600, state=state
    )
    occ.tick(_ts("2025-06-04 04:00"))
    rows = occ.take_intervals(int(_ts("2025-06-04 05:00")))
    assert sum(b.occupancy_s for _, b in rows) == 5 * 3600  # 22:00 to 03:00, not to 05:00
    assert [b.inside_end for _, b in rows] == [1, 1, 1, 1, 1, 0, 0]  # 22:00 ... 04:00
