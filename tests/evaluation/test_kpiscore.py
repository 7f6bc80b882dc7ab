"""Visitor KPIs scored against simulated truth: passers-by, capture, conversion, visit length."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.core.badges import BadgeEpisode
from gateway.core.events import Crossing
from gateway.core.site import DoorPlan, SiteLayout
from gateway.evaluation.kpiscore import METRICS, Metric, score_kpis
from gateway.evaluation.replay import replay
from gateway.protocol.trace import write_trace
from sensor_sim.generator import generate
from sensor_sim.scenarios import Scenario, Visits, preset
from tests.support.sim import NOON

OPEN_S = 3 * 3600.0
DAY_S = OPEN_S + 2 * 3600.0 + 60.0


def two_doors() -> Scenario:
    sc = preset("clean")
    visits = Visits(dwell_range_s=(30.0, 7200.0), open_s=OPEN_S, browse_share=0.1)
    return replace(sc, doors=replace(sc.doors, count=2), traffic=replace(sc.traffic, visits=visits))


def test_a_clean_closed_day_scores_close_to_truth(tmp_path: Path) -> None:
    header, records = generate(two_doors(), DAY_S, 9, NOON)
    path = tmp_path / "t.jsonl"
    write_trace(path, header, records)
    result = replay(path)
    entrance, frontage = (d.door for d in header.doors)
    # the second door's people stand in for passers-by along a frontage beam
    layout = SiteLayout(
        doors=(DoorPlan(entrance), DoorPlan(frontage, role="perimeter")), explicit=False
    )
    start = math.floor(NOON)
    got = score_kpis(
        layout, result.truth, result.visits, result.crossings, start=start, end=start + 86400
    )
    for name in METRICS:
        assert got[name].truth is not None, name
        assert got[name].relative_error is not None, name
    assert got["passers_by"].truth == sum(
        1 for t in result.truth if t.door == frontage and t.direction != "none"
    )
    assert got["transactions"].error == 0.0  # till counts are exact
    assert abs(got["conversion"].relative_error or 0) < 0.02
    assert abs(got["capture_rate"].relative_error or 0) < 0.02
    assert abs(got["mean_visit_s"].relative_error or 0) < 0.03
    assert abs(got["median_visit_s"].relative_error or 0) < 0.2
    fifo = got["fifo_median_visit_s"].relative_error or 0
    assert abs(got["median_visit_s"].relative_error or 0) < abs(fifo)


def test_eval_json_metrics_carry_the_kpis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header, records = generate(two_doors(), 3600.0, 10, NOON)
    path = tmp_path / "t.jsonl"
    write_trace(path, header, records)
    assert main(["eval", str(path), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)["metrics"]
    for name in METRICS:
        assert set(metrics[name]) == {"value", "truth", "error", "relative_error"}, name
    # no perimeter door in a trace without a layout: no passers-by, capture rate blank
    assert metrics["passers_by"]["value"] == 0
    assert metrics["capture_rate"] == {
        "value": None,
        "truth": None,
        "error": None,
        "relative_error": None,
    }
    assert metrics["transactions"]["truth"] == sum(
        1 for r in records if getattr(r, "purchase_t", None) is not None
    )
    assert metrics["kpi_period"]["start"] < metrics["kpi_period"]["end"]


def test_blank_sides_give_blank_errors() -> None:
    assert Metric(None, 3.0).error is None
    assert Metric(1.0, 0.0).relative_error is None
    assert Metric(1.1, 1.0).to_json() == {
        "value": 1.1,
        "truth": 1.0,
        "error": pytest.approx(0.1),
        "relative_error": pytest.approx(0.1),
    }
    empty = score_kpis(SiteLayout.default(["d"]), [], [], [], start=0, end=86400)
    assert empty["conversion"].value is None
    assert empty["transactions"].value is None  # no visit truth: unknown, not zero
    assert empty["capture_rate"].to_json()["value"] is None
    assert empty["mean_visit_s"].value is None


def test_a_badge_wearers_crossings_are_no_visit_as_the_live_gateway_counts_them() -> None:
    # the gateway makes a crossing staff when a node heard a registered badge with it
    # (`BadgeMatcher.claim`); scoring the visitor KPIs must see the same visitors
    layout = SiteLayout(
        doors=(DoorPlan("entrance"), DoorPlan("frontage", role="perimeter")), explicit=False
    )
    counted = [
        Crossing("entrance", "in", 100.0, "single", 1.0, 100.0),  # staff, badge heard
        Crossing("entrance", "in", 200.0, "single", 1.0, 200.0),
        Crossing("entrance", "out", 500.0, "single", 1.0, 500.0),
        Crossing("entrance", "out", 7300.0, "single", 1.0, 7300.0),  # staff, badge heard
        *(Crossing("frontage", "in", 50.0 * k, "single", 1.0, 50.0 * k) for k in range(1, 5)),
    ]
    badges = [BadgeEpisode("entrance", 99.5, 100.4), BadgeEpisode("entrance", 7299.8, 7300.6)]
    got = score_kpis(layout, [], [], counted, start=0, end=86400, badges=badges)
    assert got["capture_rate"].value == pytest.approx(1 / 4)
    assert got["mean_visit_s"].value == pytest.approx(300.0)  # the visitor's stay alone
    blind = score_kpis(layout, [], [], counted, start=0, end=86400)
    assert blind["capture_rate"].value == pytest.approx(2 / 4)
    assert blind["mean_visit_s"].value == pytest.approx((7200.0 + 300.0) / 2)
