"""Visitor KPIs scored against simulated truth: passers-by, capture, conversion, visit length."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.evaluation.kpiscore import METRICS, Metric, score_kpis
from gateway.evaluation.replay import replay
from gateway.evaluation.scoring import Counted
from gateway.protocol.trace import write_trace
from sensor_sim.generator import generate
from sensor_sim.scenarios import Visits, preset
from tests.support.sim import NOON

OPEN_S = 3 * 3600.0
DAY_S = OPEN_S + 2 * 3600.0 + 60.0


def test_a_clean_closed_day_scores_close_to_truth(tmp_path: Path) -> None:
    sc = preset("clean")
    visits = Visits(dwell_range_s=(30.0, 7200.0), open_s=OPEN_S, browse_share=0.1)
    sc = replace(sc, doors=replace(sc.doors, count=2), traffic=replace(sc.traffic, visits=visits))
    header, records = generate(sc, DAY_S, 9, NOON)
    path = tmp_path / "t.jsonl"
    write_trace(path, header, records)
    result = replay(path)
    counted = [Counted(c.door, c.direction, c.t) for c in result.crossings]
    doors = [d.door for d in header.doors]
    start = math.floor(NOON)
    got = score_kpis(
        counted,
        result.truth,
        result.visits,
        entrances={doors[0]},
        perimeter={doors[1]},
        start=start,
        end=start + 86400,
    )
    assert set(METRICS) <= set(got)
    for name in METRICS:
        assert got[name].truth is not None, name
        error = got[name].error
        assert error is not None, name
    assert got["transactions"].error == 0.0  # till counts are exact
    assert abs(got["conversion"].error or 0) < 0.02
    assert abs(got["capture_rate"].error or 0) < 0.02
    assert abs(got["mean_visit_s"].error or 0) < 0.03
    assert abs(got["median_visit_s"].error or 0) < 0.2
    fifo = got["fifo_median_visit_s"].error or 0
    assert abs(got["median_visit_s"].error or 0) < abs(fifo)
    assert got["passers_by"].to_json().keys() == {"value", "truth", "error"}


def test_blank_sides_give_a_blank_error() -> None:
    assert Metric(None, 3.0).error is None
    assert Metric(1.0, 0.0).error is None
    assert Metric(1.1, 1.0).to_json() == {"value": 1.1, "truth": 1.0, "error": pytest.approx(0.1)}
    empty = score_kpis([], [], [], entrances={"d"}, start=0, end=86400)
    assert empty["conversion"].value is None
    assert empty["capture_rate"].to_json() == {"value": None, "truth": None, "error": None}
    assert empty["mean_visit_s"].value is None
