"""Simulated visits: each entrant stays a dwell, may pay, leaves; truth lines in the trace."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gateway.errors import TraceError
from gateway.evaluation.replay import replay
from gateway.insight.visits import Passage, mean_visit, occupancy_intervals
from gateway.protocol.trace import Truth, Visit, dumps, open_trace, parse_record, write_trace
from sensor_sim.generator import generate
from sensor_sim.scenarios import Scenario, Visits, preset
from tests.support.sim import NOON

OPEN_S = 4 * 3600.0
DAY_S = OPEN_S + 2 * 3600.0 + 60.0  # the longest dwell is 2 h: everyone has left


def shop(base: str = "clean", **visits: Any) -> Scenario:
    sc = preset(base)
    v = Visits(dwell_range_s=(30.0, 7200.0), open_s=OPEN_S, browse_share=0.2)
    return replace(
        sc, name=f"{base}-visits", traffic=replace(sc.traffic, visits=replace(v, **visits))
    )


def test_visits_are_deterministic_and_match_the_crossing_truth() -> None:
    _, records = generate(shop(), DAY_S, 4, NOON)
    again = generate(shop(), DAY_S, 4, NOON)[1]
    assert [dumps(r) for r in records] == [dumps(r) for r in again]
    visits = [r for r in records if isinstance(r, Visit)]
    truth = [r for r in records if isinstance(r, Truth)]
    assert len(visits) > 300
    assert all(v.t_out is not None and v.door_out == v.door_in for v in visits)  # a closed day
    ins = sorted(t.t for t in truth if t.direction == "in")
    outs = sorted(t.t for t in truth if t.direction == "out")
    assert ins == sorted(v.t_in for v in visits)
    assert outs == sorted(v.t_out for v in visits if v.t_out is not None)
    assert any(t.kind == "uturn" for t in truth)  # browsers look in and turn back
    assert max(v.t_in for v in visits) < NOON + OPEN_S + 60
    bought = [v for v in visits if v.purchase_t is not None]
    assert 0.2 < len(bought) / len(visits) < 0.4  # buy_share 0.3
    for v in bought:
        assert v.t_out is not None
        assert v.purchase_t is not None
        assert v.t_in <= v.purchase_t <= v.t_out
    dwell = np.array([v.t_out - v.t_in for v in visits if v.t_out is not None])
    assert np.median(dwell) == pytest.approx(720.0, rel=0.15)  # lognormal median 12 min


def test_littles_law_identity_holds_exactly_on_a_closed_simulated_day() -> None:
    _, records = generate(shop(), DAY_S, 5, NOON)
    truth = [r for r in records if isinstance(r, Truth) and r.direction != "none"]
    visits = [r for r in records if isinstance(r, Visit)]
    start, end = math.floor(NOON), math.floor(NOON) + 86400
    rows = occupancy_intervals(
        [Passage(t.t, "in" if t.direction == "in" else "out") for t in truth], start, end, 900
    )
    mean = mean_visit(rows)
    assert mean.exact
    lengths = [v.t_out - v.t_in for v in visits if v.t_out is not None]
    assert mean.occupancy_s == pytest.approx(math.fsum(lengths), rel=1e-12)
    assert mean.mean_s == pytest.approx(float(np.mean(lengths)), rel=1e-12)


def test_an_open_trace_end_leaves_visits_open() -> None:
    _, records = generate(shop(open_s=None), 3600.0, 6, NOON)
    visits = [r for r in records if isinstance(r, Visit)]
    assert any(v.t_out is None and v.door_out is None for v in visits)


def test_presets_without_visits_are_unchanged_and_write_no_visit_lines() -> None:
    _, records = generate("busy", 120.0, 7, NOON)
    assert not any(isinstance(r, Visit) for r in records)


def test_visit_lines_round_trip_and_replay_collects_them(tmp_path: Path) -> None:
    header, records = generate(shop(), 1800.0, 7, NOON)
    path = tmp_path / "t.jsonl"
    write_trace(path, header, records)
    with open_trace(path) as reader:
        again = list(reader)
    assert again == records
    result = replay(path)
    assert result.visits == [r for r in records if isinstance(r, Visit)]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"door_in": "d", "t_in": 5, "door_out": "d", "t_out": 4, "purchase_t": None}, "before"),
        ({"door_in": "d", "t_in": 5, "door_out": None, "t_out": 9, "purchase_t": None}, "both"),
        ({"door_in": "d", "t_in": 5, "door_out": "d", "t_out": 9, "purchase_t": 10}, "outside"),
        ({"door_in": "d", "t_in": 5, "door_out": "d", "t_out": 9}, "no 'purchase_t'"),
        (
            {"door_in": "", "t_in": 5, "door_out": None, "t_out": None, "purchase_t": None},
            "door_in",
        ),
    ],
)
def test_bad_visit_lines_are_trace_errors(line: dict[str, object], message: str) -> None:
    with pytest.raises(TraceError, match=message):
        parse_record({"type": "visit", **line})


def test_visit_scenario_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="buy_share"):
        Visits(buy_share=1.5)
    with pytest.raises(ValueError, match="dwell_median_s"):
        Visits(dwell_median_s=1.0)
