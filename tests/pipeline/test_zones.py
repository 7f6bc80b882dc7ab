"""Zones and door roles in the pipeline: per-zone occupancy, the audience split, the payloads."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.core.events import Crossing
from gateway.core.hours import OpeningHours, weekly
from gateway.core.site import OUTSIDE, DoorPlan, SiteLayout
from gateway.outputs.mqtt.payloads import decode
from gateway.outputs.mqtt.settings import MqttSettings, OccupancySettings
from gateway.outputs.outbox import Outbox
from gateway.pipeline.service import Pipeline
from gateway.protocol.trace import BeamRef, DoorSpec, write_trace
from sensor_sim.generator import generate
from tests.support.mqtt import Collector, Mosquitto, start_gateway, write_run_config

UTC = ZoneInfo("UTC")
T0 = dt.datetime(2026, 11, 30, 10, tzinfo=UTC).timestamp()  # a Monday, 10:00
DOORS = [
    DoorSpec(name, BeamRef(f"n{i}", 0), BeamRef(f"n{i}", 1))
    for i, name in enumerate(["Front", "Yard", "Stairs", "Pavement"])
]
LAYOUT = SiteLayout(
    zones=("Floor", "Upstairs"),
    doors=(
        DoorPlan("Front", "entrance", OUTSIDE, "Floor"),
        DoorPlan("Yard", "staff", OUTSIDE, "Floor"),
        DoorPlan("Stairs", "internal", "Floor", "Upstairs"),
        DoorPlan("Pavement", "perimeter"),
    ),
    hours=OpeningHours(UTC, weekly({"mon": ["09:00-18:00"]})),
    explicit=True,
)


def _pipeline(tmp_path: Path, layout: SiteLayout | None = LAYOUT) -> Pipeline:
    settings = MqttSettings.model_validate({"outbox_path": tmp_path / "o.db"})
    box = Outbox(settings.outbox_path)
    occupancy = OccupancySettings(reset_time=dt.time(3, 0))
    return Pipeline("Shop", DOORS, settings, occupancy, box, layout)


def _x(door: str, direction: str, t: float) -> Crossing:
    return Crossing(door, direction, t, "single", 1.0, t)  # type: ignore[arg-type]


def _latest(p: Pipeline, topic_end: str) -> dict[str, object]:
    rows = [r for r in p.outbox.pending(limit=10**6) if r.topic.endswith(topic_end)]
    return dict(json.loads(rows[-1].payload))


def _all(p: Pipeline, topic_end: str) -> list[dict[str, object]]:
    rows = p.outbox.pending(limit=10**6)
    return [json.loads(r.payload) for r in rows if r.topic.endswith(topic_end)]


def test_zones_count_people_moving_between_them(tmp_path: Path) -> None:
    p = _pipeline(tmp_path)
    p.on_events(
        [
            _x("Front", "in", T0 + 1),  # a visitor onto the floor
            _x("Front", "in", T0 + 2),
            _x("Yard", "in", T0 + 3),  # staff by the staff door
            _x("Stairs", "in", T0 + 4),  # one goes upstairs
            _x("Pavement", "in", T0 + 5),  # passers-by: nobody moves
            _x("Pavement", "out", T0 + 6),
        ]
    )
    p.commit(now=T0 + 10)
    floor = _latest(p, "zone/floor/occupancy")
    upstairs = _latest(p, "zone/upstairs/occupancy")
    site = _latest(p, "shop/occupancy")
    assert (floor["occupancy"], floor["entries"], floor["exits"]) == (2, 3, 1)
    assert (floor["visitors_in"], floor["staff_in"], floor["visitors_out"]) == (2, 1, 1)
    assert (upstairs["occupancy"], upstairs["visitors_in"]) == (1, 1)
    assert (site["occupancy"], site["entries"], site["exits"]) == (3, 3, 0)
    assert (site["visitors_in"], site["staff_in"]) == (2, 1)
    assert (site["passersby_in"], site["passersby_out"]) == (1, 1)
    for name in ("zone/floor/occupancy", "zone/upstairs/occupancy", "shop/occupancy"):
        decode(
            "zone_occupancy" if "zone/" in name else "site_occupancy", json.dumps(_latest(p, name))
        )


def test_zone_occupancy_never_goes_negative_and_the_reset_empties_every_zone(
    tmp_path: Path,
) -> None:
    p = _pipeline(tmp_path)
    p.on_events([_x("Stairs", "out", T0 + 1), _x("Front", "in", T0 + 2)])  # a missed entry
    p.commit(now=T0 + 10)
    upstairs = _latest(p, "zone/upstairs/occupancy")
    assert (upstairs["occupancy"], upstairs["corrected"]) == (0, 1)
    assert _latest(p, "zone/floor/occupancy")["occupancy"] == 2  # down the stairs, and in
    p.on_events([_x("Stairs", "in", T0 + 20)])
    p.commit(now=T0 + 30)
    assert _latest(p, "zone/upstairs/occupancy")["occupancy"] == 1
    p.commit(now=T0 + 18 * 3600)  # past 03:00 the next day: the daily reset
    for zone in ("floor", "upstairs"):
        got = _latest(p, f"zone/{zone}/occupancy")
        assert (got["occupancy"], got["reset_reason"], got["visitors_in"]) == (0, "daily", 0)


def test_intervals_split_visitors_staff_out_of_hours_and_passers_by(tmp_path: Path) -> None:
    p = _pipeline(tmp_path)
    evening = T0 + 9 * 3600  # 19:00: closed
    p.on_events(
        [
            _x("Front", "in", T0 + 1),
            _x("Front", "out", T0 + 2),
            _x("Yard", "in", T0 + 3),
            _x("Pavement", "in", T0 + 4),
            _x("Front", "in", evening + 1),  # the cleaner
            _x("Yard", "out", evening + 2),  # staff leaving late: out of hours too
        ]
    )
    p.commit(now=evening + 600, flush=True)
    rows = {(r["door"], r["start"]): r for r in _all(p, "/interval")}
    front = rows["Front", T0]
    assert (front["role"], front["entries"], front["visitors_in"], front["visitors_out"]) == (
        "entrance",
        1,
        1,
        1,
    )
    assert rows["Yard", T0]["staff_in"] == 1
    pavement = rows["Pavement", T0]
    assert (pavement["role"], pavement["entries"], pavement["passersby_in"]) == ("perimeter", 1, 1)
    assert pavement["visitors_in"] == 0
    late = rows["Front", evening]
    assert (late["out_of_hours_in"], late["visitors_in"]) == (1, 0)
    assert (rows["Yard", evening]["staff_out"], rows["Yard", evening]["out_of_hours_out"]) == (0, 1)
    crossings = _all(p, "front/crossing")
    assert [c["audience"] for c in crossings] == ["visitor", "visitor", "out_of_hours"]


def test_the_split_and_zones_survive_a_restart(tmp_path: Path) -> None:
    p = _pipeline(tmp_path)
    p.on_events([_x("Front", "in", T0 + 1), _x("Stairs", "in", T0 + 2)])
    p.commit(now=T0 + 3)
    p.outbox.close()
    q = _pipeline(tmp_path)
    assert q.zones["Upstairs"].state.occupancy == 1
    assert q.occupancy.state.split == {"visitors_in": 1}
    q.on_events([_x("Front", "in", T0 + 4)])
    q.commit(now=T0 + 120, flush=True)
    front = [r for r in _all(q, "front/interval") if r["start"] == T0][-1]
    assert (front["entries"], front["visitors_in"]) == (2, 2)


def test_a_site_without_zones_publishes_no_zone_topics(tmp_path: Path) -> None:
    p = _pipeline(tmp_path, layout=None)
    p.on_events([_x("Front", "in", T0 + 1), _x("Stairs", "in", T0 + 2)])
    p.commit(now=T0 + 3)
    topics = {r.topic for r in p.outbox.pending(limit=10**6)}
    assert not any("/zone/" in t for t in topics)
    site = _latest(p, "shop/occupancy")
    assert (site["occupancy"], site["entries"], site["visitors_in"]) == (2, 2, 2)


@pytest.mark.servers
def test_doorcount_run_on_a_shop_day_trace_publishes_zones_and_what_eval_counts(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """`doorcount run --trace` takes the trace's own layout when the config has none; the
    site's visitors since the (absent) reset equal the visitors `doorcount eval` counts."""
    from gateway.config import site_layout
    from gateway.evaluation.metrics import metrics
    from gateway.evaluation.replay import replay

    header, records = generate("shop-day", 3 * 3600, 5, dt.datetime(2025, 6, 3, 9, tzinfo=UTC))
    trace = tmp_path / "shop.jsonl"
    write_trace(trace, header, records)
    config = write_run_config(tmp_path, mosquitto, trace)
    gateway = start_gateway(config, "--drain-timeout", "20")
    assert gateway.wait(240) == 0, (tmp_path / "gateway.log").read_text()[-2000:]
    base = "doorcount/sim-shop-day/"
    wanted = {base + "occupancy", base + "zone/floor/occupancy", base + "zone/upstairs/occupancy"}
    fresh = Collector(mosquitto, base + "#", client_id="check")
    got = fresh.wait_for(lambda m: wanted <= {x.topic for x in m})
    fresh.close()
    latest = {x.topic: json.loads(x.payload) for x in got if x.topic in wanted}
    site = latest["doorcount/sim-shop-day/occupancy"]
    result = replay(trace)
    layout = site_layout(header.extra["layout"], [d.door for d in header.doors])
    want = metrics(layout, result.truth, result.crossings)
    assert site["visitors_in"] == want["site"]["visitors_in"]["counted"] > 0
    assert site["staff_in"] == want["site"]["staff_in"]["counted"]
    floor = latest["doorcount/sim-shop-day/zone/floor/occupancy"]
    assert floor["visitors_in"] == want["zones"]["floor"]["visitors_in"]["counted"]
