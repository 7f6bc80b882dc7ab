"""Zones and door roles in the pipeline: per-zone occupancy, the audience split, the payloads."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.core.events import Crossing, Event
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


def _all(p: Pipeline, topic_end: str) -> list[dict[str, Any]]:
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


def test_a_badge_episode_makes_the_crossing_at_the_public_door_staff(tmp_path: Path) -> None:
    """The live path: a BADGE_SEEN located on the gateway clock by the engine makes the
    crossing decided for that episode staff; the next visitor stays a visitor."""
    from gateway.core.engine import Engine
    from gateway.protocol.trace import BadgeHeard, Tick

    p = _pipeline(tmp_path)
    engine = Engine(DOORS)
    node_t0 = 5_000_000  # node µs of the first edge; node clock = gateway clock - T0 + 5 s
    events: list[Event] = []
    edges = [(0, True, 0), (1, True, 150_000), (0, False, 400_000), (1, False, 550_000)]
    edges += [(beam, broken, us + 5_000_000) for beam, broken, us in edges]
    for k, (beam, broken, us) in enumerate(edges):
        node_us = node_t0 + us
        rx = T0 + node_us * 1e-6 + 0.05
        events += engine.feed(Tick("n0", 7, k, node_us, beam, broken, rx))
        if k == 3:  # the first episode's BADGE_SEEN follows its ticks
            p.on_badge(engine, BadgeHeard("n0", 7, node_t0, 550_000, -47, rx + 0.01))
    events += engine.finish()
    p.on_events(events)
    p.commit(now=T0 + 60, flush=True)
    crossings = _all(p, "front/crossing")
    assert [c["audience"] for c in crossings] == ["staff", "visitor"]
    assert all("badge" not in json.dumps(c) for c in crossings)
    rows = [r for r in _all(p, "/interval") if r["door"] == "Front"]
    assert [(r["staff_in"], r["visitors_in"]) for r in rows if r["entries"]] == [(1, 1)]


def test_visits_publish_occupancy_seconds_that_roll_up_over_zones_to_the_site(
    tmp_path: Path,
) -> None:
    """Per interval: the site's occupancy-seconds equal the sum over its zones (the zones
    partition it), entries and the live capture rate are stated for the interval, and a
    ratio without passers-by is null, never 0."""
    p = _pipeline(tmp_path)
    p.on_events(
        [
            _x("Front", "in", T0 + 10),  # A onto the floor
            _x("Pavement", "in", T0 + 15),  # two passers-by
            _x("Pavement", "out", T0 + 16),
            _x("Front", "in", T0 + 20),  # B
            _x("Stairs", "in", T0 + 40),  # B upstairs
            _x("Stairs", "out", T0 + 70),  # B down
            _x("Front", "out", T0 + 100),  # B leaves: 80 s
            _x("Front", "out", T0 + 130),  # A leaves: 120 s
        ]
    )
    p.commit(now=T0 + 200)
    rows = _all(p, "/visits")
    for row in rows:
        decode("visits", json.dumps(row))
    site = {r["start"]: r for r in rows if r["zone"] is None}
    zones = {(r["zone"], r["start"]): r for r in rows if r["zone"] is not None}
    assert sorted(site) == [T0, T0 + 60, T0 + 120]  # T0 + 180 is not over yet (grace)
    for start, row in site.items():
        parts = (
            zones["Floor", start]["occupancy_seconds"]
            + zones["Upstairs", start]["occupancy_seconds"]
        )
        assert row["occupancy_seconds"] == parts
    assert sum(r["occupancy_seconds"] for r in site.values()) == 80 + 120
    assert sum(r["entries"] for r in site.values()) == 2
    assert (site[T0]["capture_rate"], site[T0]["visitors_in"], site[T0]["passersby_in"]) == (
        1.0,
        2,
        1,
    )
    assert site[T0 + 60]["capture_rate"] is None  # no passers-by: blank, not 0
    assert [site[t]["inside_end"] for t in sorted(site)] == [2, 1, 0]
    assert zones["Upstairs", T0]["occupancy_seconds"] == 20
    assert zones["Upstairs", T0 + 60]["occupancy_seconds"] == 10


def test_occupancy_payloads_carry_the_running_littles_law_mean_and_capture_rate(
    tmp_path: Path,
) -> None:
    """Since the last reset: person-seconds up to `t`, mean visit = person-seconds / entries
    (exact once nobody is inside), capture rate; null, never 0, with a zero denominator."""
    p = _pipeline(tmp_path)
    p.on_events([_x("Pavement", "in", T0 + 1), _x("Pavement", "out", T0 + 2)])
    p.commit(now=T0 + 5)
    site = _latest(p, "shop/occupancy")
    assert (site["occupancy_seconds"], site["mean_visit_s"]) == (0.0, None)  # no entry: blank
    assert site["capture_rate"] == 0.0  # passers-by but no visitor: a real 0
    p.on_events([_x("Front", "in", T0 + 10), _x("Front", "in", T0 + 20)])
    p.commit(now=T0 + 40)
    site = _latest(p, "shop/occupancy")
    assert site["occupancy_seconds"] == 30 + 20  # still inside: counted up to t
    assert site["mean_visit_s"] == 25.0
    p.on_events(
        [
            _x("Pavement", "in", T0 + 50),
            _x("Pavement", "out", T0 + 55),
            _x("Pavement", "out", T0 + 56),
            _x("Pavement", "in", T0 + 57),
            _x("Front", "out", T0 + 70),  # 60 s
            _x("Front", "out", T0 + 110),  # 90 s
        ]
    )
    p.commit(now=T0 + 500)
    site = _latest(p, "shop/occupancy")
    assert (site["occupancy"], site["occupancy_seconds"], site["mean_visit_s"]) == (0, 150.0, 75.0)
    assert site["capture_rate"] == 2 / 6  # 2 visitors / 6 passers-by since the reset
    floor = _latest(p, "zone/floor/occupancy")
    assert (floor["mean_visit_s"], "capture_rate" in floor) == (75.0, False)
    decode("site_occupancy", json.dumps(site))
