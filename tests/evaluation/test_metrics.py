"""Operator figures against truth, and the `shop-day` site whose truth they are scored on."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.cli import main
from gateway.config import site_layout
from gateway.core.events import Crossing
from gateway.core.hours import OpeningHours, weekly
from gateway.core.site import OUTSIDE, DoorPlan, SiteLayout
from gateway.errors import TraceError
from gateway.evaluation.metrics import metrics
from gateway.outputs.mqtt.settings import MqttSettings, OccupancySettings
from gateway.outputs.outbox import Outbox
from gateway.pipeline.service import Pipeline
from gateway.protocol.trace import Truth, open_trace, parse_record, write_trace
from sensor_sim import shopday
from sensor_sim.generator import generate

UTC = ZoneInfo("UTC")
T0 = dt.datetime(2026, 11, 30, 10, tzinfo=UTC).timestamp()  # Monday 10:00
LAYOUT = SiteLayout(
    zones=("floor", "upstairs"),
    doors=(
        DoorPlan("front", "entrance", OUTSIDE, "floor"),
        DoorPlan("back", "staff", OUTSIDE, "floor"),
        DoorPlan("stairs", "internal", "floor", "upstairs"),
        DoorPlan("pavement", "perimeter"),
    ),
    hours=OpeningHours(UTC, weekly({"mon": ["09:00-18:00"]})),
    explicit=True,
)


def _x(door: str, direction: str, t: float) -> Crossing:
    return Crossing(door, direction, t, "single", 1.0, t)  # type: ignore[arg-type]


def test_figures_per_site_and_zone_with_truth_and_error() -> None:
    truth = [
        Truth("front", T0 + 1, "in", "single"),
        Truth("front", T0 + 2, "in", "single"),
        Truth("front", T0 + 3, "in", "single", "staff"),  # staff by the front door
        Truth("back", T0 + 4, "in", "single", "staff"),
        Truth("stairs", T0 + 5, "in", "single"),
        Truth("pavement", T0 + 6, "in", "single", "passerby"),
        Truth("front", T0 + 9 * 3600, "in", "single", "cleaner"),  # 19:00
        Truth("front", T0 + 7, "none", "uturn"),
    ]
    counted = [
        _x("front", "in", T0 + 1.1),
        _x("front", "in", T0 + 3.5),  # the staff member: a visitor to the gateway
        _x("back", "in", T0 + 4.2),
        _x("stairs", "in", T0 + 5.1),
        _x("stairs", "in", T0 + 50),  # a false count
        _x("pavement", "in", T0 + 6),
        _x("front", "in", T0 + 9 * 3600),
    ]
    got = metrics(LAYOUT, truth, counted)
    site = got["site"]
    assert site["visitors_in"] == {"truth": 2, "counted": 2, "error": 0, "relative_error": 0.0}
    assert (site["staff_in"]["truth"], site["staff_in"]["counted"]) == (2, 1)
    assert site["out_of_hours_in"]["error"] == 0
    assert (site["occupancy_peak"]["truth"], site["occupancy_peak"]["counted"]) == (5, 4)
    upstairs = got["zones"]["upstairs"]
    assert (upstairs["visitors_in"]["truth"], upstairs["visitors_in"]["counted"]) == (1, 2)
    assert upstairs["occupancy_peak"]["relative_error"] == 1.0
    floor = got["zones"]["floor"]
    assert (floor["occupancy_peak"]["truth"], floor["occupancy_peak"]["counted"]) == (4, 3)
    assert got["visitors_counted_as_staff"] == {"matched": 2, "as_staff": 0, "share": 0.0}
    assert got["staff_counted_as_staff"] == {"matched": 2, "as_staff": 1, "share": 0.5}


def test_truth_lines_say_who_crossed_compatibly() -> None:
    line = {"type": "truth", "door": "a", "t": 1.0, "direction": "in", "kind": "single"}
    assert parse_record(line) == Truth("a", 1.0, "in", "single")  # a visitor
    staff = parse_record({**line, "who": "staff"})
    assert staff == Truth("a", 1.0, "in", "single", "staff")
    assert isinstance(staff, Truth)
    assert staff.to_json()["who"] == "staff"
    assert "who" not in Truth("a", 1.0, "in", "single").to_json()
    with pytest.raises(TraceError, match="truth 'who' must be one of"):
        parse_record({**line, "who": "manager"})


@pytest.fixture(scope="module")
def shop_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    header, records = generate("shop-day", 16 * 3600, seed=11)
    path = tmp_path_factory.mktemp("shop") / "shop-day.jsonl"
    write_trace(path, header, records)
    return path


def test_shop_day_truth_keeps_every_zone_consistent_through_the_day(shop_day: Path) -> None:
    """Fed the true crossings, no zone ever needs the zero floor, each empties by closing, and
    the nightly reset finds nobody inside."""
    with open_trace(shop_day) as reader:
        header = reader.header
        truth = [r for r in reader if isinstance(r, Truth)]
    layout = site_layout(header.extra["layout"], [d.door for d in header.doors])
    assert layout.zones == ("floor", "upstairs")
    assert {p.role for p in layout.doors} == {"entrance", "staff", "internal", "perimeter"}
    whos = {t.who for t in truth}
    assert whos == {"visitor", "staff", "delivery", "cleaner", "passerby"}
    settings = MqttSettings.model_validate({"outbox_path": shop_day.parent / "o.db"})
    occupancy = OccupancySettings(reset_time=dt.time(3, 0), timezone=shopday.TIMEZONE)
    p = Pipeline(
        header.site, header.doors, settings, occupancy, Outbox(settings.outbox_path), layout
    )
    inside = sorted((t for t in truth if t.direction != "none"), key=lambda t: t.t)
    p.on_events(_x(t.door, t.direction, t.t) for t in inside)
    p.commit(now=inside[-1].t)
    # No reset falls in 06:00-22:00, so `corrected` counts every exit the zero floor took.
    assert [z.state.corrected for z in p.zones.values()] == [0, 0]
    assert p.occupancy.state.corrected == 0
    assert p.zones["upstairs"].state.entries > 0
    assert [z.state.occupancy for z in p.zones.values()] == [0, 0]
    assert p.occupancy.state.occupancy == 0
    p.commit(now=inside[-1].t + 8 * 3600)  # past 03:00: the daily reset
    for zone in p.zones.values():
        assert (zone.state.reset_reason, zone.state.corrected, zone.state.occupancy) == (
            "daily",
            0,
            0,
        )


def test_shop_day_eval_metrics(shop_day: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(shop_day), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    m = result["metrics"]
    assert set(m["zones"]) == {"floor", "upstairs"}
    visitors = m["site"]["visitors_in"]
    assert visitors["truth"] > 400
    assert abs(visitors["relative_error"]) <= 0.01
    assert m["visitors_counted_as_staff"]["share"] <= 0.005
    assert m["staff_counted_as_staff"]["matched"] > 0
    for area in [m["site"], *m["zones"].values()]:
        assert set(area) == {"visitors_in", "staff_in", "out_of_hours_in", "occupancy_peak"}
        assert area["occupancy_peak"]["truth"] > 0
