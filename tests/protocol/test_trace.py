"""The doorcount-trace v1 contract: what parses, and what is rejected with which message."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.errors import TraceError
from gateway.protocol.trace import (
    BeamRef,
    DoorSpec,
    Record,
    Tick,
    TraceHeader,
    TraceReader,
    Truth,
    dumps,
    open_trace,
    write_trace,
)

HEADER: dict[str, Any] = {
    "type": "header",
    "format": "doorcount-trace",
    "version": 1,
    "site": "lab",
    "doors": [
        {"door": "front", "outer": {"node": "n1", "beam": 0}, "inner": {"node": "n2", "beam": 0}}
    ],
}
TICK = {
    "type": "tick",
    "node": "n1",
    "boot": 1,
    "seq": 0,
    "node_us": 5000123,
    "beam": 0,
    "state": "broken",
    "rx": 1795238116.3201,
}
TRUTH = {"type": "truth", "door": "front", "t": 1795238116.25, "direction": "in", "kind": "single"}


def lines(*objs: object) -> list[str]:
    return [json.dumps(o) + "\n" for o in objs]


def test_issue_example_parses_exactly():
    reader = TraceReader(lines(HEADER, TICK, TRUTH))
    assert reader.header == TraceHeader(
        "lab", (DoorSpec("front", BeamRef("n1", 0), BeamRef("n2", 0)),)
    )
    assert list(reader) == [
        Tick("n1", 1, 0, 5000123, 0, True, 1795238116.3201),
        Truth("front", 1795238116.25, "in", "single"),
    ]


def test_unknown_header_keys_and_line_types_are_ignored():
    header = {**HEADER, "geometry": {"spacing_m": 0.12}, "seed": 7, "generator": "x"}
    reader = TraceReader(lines(header, {"type": "note", "text": "hi"}, TICK))
    assert reader.header.extra["seed"] == 7
    assert len(list(reader)) == 1


def test_dual_beam_node_door():
    header = {
        **HEADER,
        "doors": [
            {"door": "d", "outer": {"node": "n1", "beam": 0}, "inner": {"node": "n1", "beam": 1}}
        ],
    }
    assert TraceReader(lines(header)).header.doors[0].inner == BeamRef("n1", 1)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({**TICK, "state": "open"}, "tick 'state' must be \"broken\" or \"clear\", got 'open'"),
        ({**TICK, "seq": -1}, "tick 'seq' must be >= 0, got -1"),
        ({**TICK, "seq": 1.5}, "tick 'seq' must be an integer, got 1.5"),
        ({**TICK, "rx": "soon"}, "tick 'rx' must be a number, got 'soon'"),
        ({**TICK, "boot": True}, "tick 'boot' must be an integer, got True"),
        ({k: v for k, v in TICK.items() if k != "node_us"}, "tick has no 'node_us'"),
        ({**TRUTH, "direction": "sideways"}, "truth 'direction' must be in, out or none"),
        ({"type": 3}, "line has no string 'type'"),
    ],
)
def test_bad_lines_name_the_line_and_the_field(bad, message):
    reader = TraceReader(lines(HEADER, TICK, bad))
    with pytest.raises(TraceError) as err:
        list(reader)
    assert err.value.line == 3
    assert message in str(err.value)
    assert str(err.value).startswith("line 3: ")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ({**HEADER, "format": "other"}, "header 'format' must be 'doorcount-trace'"),
        ({**HEADER, "version": 2}, "header 'version' 2 is not supported"),
        ({**HEADER, "doors": []}, "at least one door"),
        (TICK, "the first line must be the header"),
        (
            {**HEADER, "doors": [HEADER["doors"][0], {**HEADER["doors"][0], "door": "back"}]},
            "already used by door 'front'",
        ),
    ],
)
def test_bad_headers(header, message):
    with pytest.raises(TraceError, match="line 1: ") as err:
        TraceReader(lines(header))
    assert message in str(err.value)


def test_not_json_and_not_utf8():
    with pytest.raises(TraceError, match=r"line 2: not valid JSON"):
        list(TraceReader([json.dumps(HEADER).encode() + b"\n", b"{nope\n"]))
    with pytest.raises(TraceError, match=r"line 2: not valid UTF-8"):
        list(TraceReader([json.dumps(HEADER).encode() + b"\n", b"\xff\xfe\n"]))


def test_empty_trace():
    with pytest.raises(TraceError, match="empty"):
        TraceReader([])


def test_skip_bad_counts_and_keeps_going():
    reader = TraceReader(lines(HEADER, TICK, {**TICK, "state": "?"}, TRUTH), skip_bad=True)
    assert len(list(reader)) == 2
    assert [b.line for b in reader.bad] == [3]


def test_write_then_read_round_trips(tmp_path):
    header = TraceHeader(
        "lab", (DoorSpec("front", BeamRef("n1", 0), BeamRef("n1", 1)),), {"seed": 3}
    )
    records: list[Record] = [
        Tick("n1", 7, 0, 12, 1, False, 1.5),
        Truth("front", 1.25, "none", "uturn"),
    ]
    path = tmp_path / "t.jsonl"
    write_trace(path, header, records)
    with open_trace(path) as reader:
        assert reader.header == header
        assert list(reader) == records
    assert json.loads(dumps(records[0]))["state"] == "clear"


def test_recorded_advance_lines_are_read_for_replay():
    from gateway.protocol.trace import Advance

    reader = TraceReader(lines(HEADER, TICK, {"type": "advance", "now": 1795238117.5}))
    assert list(reader)[1] == Advance(1795238117.5)
    with pytest.raises(TraceError, match="advance 'now' must be a number"):
        list(TraceReader(lines(HEADER, {"type": "advance", "now": "later"})))
