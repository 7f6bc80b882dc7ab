"""`doorcount eval`: its JSON contract, crossings file, plot, errors; and the scoring rules."""

from __future__ import annotations

import json

import pytest

from gateway.cli import main
from gateway.evaluation.scoring import Counted, match, score
from gateway.protocol.trace import Direction, Tick, Truth, write_trace
from tests.support.enginekit import T0, two_node_door, warm_up


@pytest.fixture
def trace(tmp_path):
    site = two_node_door()
    warm_up(site, people=10)
    truth = []
    for k in range(10):
        direction: Direction = "in" if k % 2 == 0 else "out"
        site.walk(0, -400.0 + 20.0 * k, direction)
        truth.append(Truth("front", T0 - 400.0 + 20.0 * k, direction, "single"))
    site.breaks.clear()
    for k, tr in enumerate(truth):
        site.walk(0, tr.t - T0, tr.direction)
        del k
    from gateway.protocol.trace import TraceHeader

    header = TraceHeader("lab", tuple(site.doors))
    mixed: list[Tick | Truth] = [*site.ticks(), *truth]
    records = sorted(mixed, key=lambda r: r.rx if isinstance(r, Tick) else r.t)
    path = tmp_path / "lab.jsonl"
    write_trace(path, header, records)
    return path


def test_json_output_is_exactly_one_object_with_the_contract_keys(trace, capsys):
    assert main(["eval", str(trace), "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    result = json.loads(out)
    assert set(result) == {
        "doors",
        "event_accuracy",
        "count_error",
        "metrics",
        "ticks",
        "seconds",
        "reliability",
        "skipped_lines",
        "quarantined_ticks",
        "warnings",
    }
    assert result["metrics"]["site"]["visitors_in"] == {
        "truth": 5,
        "counted": 5,
        "error": 0,
        "relative_error": 0.0,
    }
    bins = result["reliability"]
    assert [b["confidence"] for b in bins][-1] == "0.95-1"
    assert sum(b["crossings"] for b in bins) == 10
    assert all(b["share_right"] in (None, 1.0) for b in bins)
    assert result["doors"] == {
        "front": {
            "in": {"truth": 5, "counted": 5, "matched": 5},
            "out": {"truth": 5, "counted": 5, "matched": 5},
        }
    }
    assert result["event_accuracy"] == 1.0
    assert result["count_error"] == 0.0
    assert result["ticks"] == 40
    assert isinstance(result["seconds"], float)


def test_crossings_file_and_plot(trace, tmp_path, capsys):
    out = tmp_path / "crossings.jsonl"
    png = tmp_path / "plot.png"
    assert main(["eval", str(trace), "--crossings", str(out), "--plot", str(png)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 10
    assert set(rows[0]) == {"door", "direction", "t"}
    assert abs(rows[0]["t"] - (T0 - 400.0)) < 0.1
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "event_accuracy 1.0000" in capsys.readouterr().out


def test_bad_line_stops_with_line_number_or_is_skipped(trace, capsys):
    lines = trace.read_text().splitlines()
    lines.insert(3, '{"type": "tick", "node": "o1"}')
    trace.write_text("\n".join(lines) + "\n")
    assert main(["eval", str(trace), "--json"]) == 1
    assert "line 4: tick has no 'boot'" in capsys.readouterr().err
    assert main(["eval", str(trace), "--json", "--skip-bad"]) == 0
    assert json.loads(capsys.readouterr().out)["event_accuracy"] == 1.0


def test_missing_file_is_a_clear_error(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such trace file" in capsys.readouterr().err


def test_scoring_matches_one_to_one_within_a_second():
    truth = [Truth("d", t, "in", "single") for t in (10.0, 11.0, 20.0)]
    counted = [Counted("d", "in", t) for t in (10.2, 10.4, 25.0)] + [Counted("d", "out", 11.0)]
    sc = score(["d"], truth, counted)
    cell = sc.cells["d"]["in"]
    assert (cell.truth, cell.counted, cell.matched) == (3, 3, 2)
    # event_accuracy = 2 / (max(3,3) + max(0,1)); count_error = (0 + 1) / 3
    assert sc.event_accuracy == pytest.approx(2 / 4)
    assert sc.count_error == pytest.approx(1 / 3)


def test_match_returns_indices_into_unsorted_inputs():
    truth = [20.0, 10.0, 11.0]
    counted = [25.0, 10.4, 10.2]
    missed, false, pairs = match(truth, counted, 1.0)
    assert sorted(pairs) == [(1, 2), (2, 1)]
    assert (missed, false) == ([0], [0])


def test_none_truth_is_never_expected():
    sc = score(["d"], [Truth("d", 1.0, "none", "uturn")], [])
    assert sc.event_accuracy == 1.0
    assert sc.truth_total == 0


def test_replay_applies_recorded_advances_like_the_live_gateway(trace, tmp_path):
    """A live recording notes when the gateway let time pass; eval decides at those moments."""
    from gateway.core.engine import Engine
    from gateway.core.events import Crossing
    from gateway.evaluation.replay import replay
    from gateway.protocol.trace import Advance, Tick, TraceReader

    with open(trace, "rb") as raw:
        reader = TraceReader(raw)
        records = list(reader)
        header_line = trace.read_text().splitlines()[0]
    ticks = [r for r in records if isinstance(r, Tick)]
    # What a live gateway does: feed ticks, and advance its clock every 0.5 s in between.
    live = Engine(reader.header.doors)
    lines = [header_line]
    decided = []
    clock = ticks[0].rx
    for tick in ticks:
        while clock + 0.5 < tick.rx:
            clock += 0.5
            decided += live.advance(clock)
            lines.append(json.dumps(Advance(clock).to_json()))
        decided += live.feed(tick)
        lines.append(json.dumps(tick.to_json()))
    recording = tmp_path / "recording.jsonl"
    recording.write_text("\n".join(lines) + "\n")
    expected = [e for e in decided + live.finish() if isinstance(e, Crossing)]
    assert replay(recording).crossings == sorted(expected, key=lambda c: (c.t, c.door))
