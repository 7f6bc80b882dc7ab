"""Interval counts: zero-filled, absolute, corrected by late crossings with a new revision."""

from __future__ import annotations

import math
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core.events import Crossing
from gateway.outputs.outbox import IntervalRow
from gateway.pipeline.intervals import RETENTION, Intervals

T0 = 1_748_944_800  # a minute boundary


def _c(door: str, t: float, direction: str = "in") -> Crossing:
    return Crossing(door, direction, t, "single", 1.0, t)  # type: ignore[arg-type]


def _view(rows: list[IntervalRow]) -> list[tuple[str, int, int, int, int]]:
    return [(r.door, r.start - T0, r.entries, r.exits, r.revision) for r in rows]


def test_closed_intervals_are_published_with_zeros_for_quiet_doors() -> None:
    iv = Intervals(["a", "b"], seconds=60, grace=5)
    assert iv.close(T0 + 10) == []  # starts counting here
    iv.add(_c("a", T0 + 12))
    iv.add(_c("a", T0 + 30, "out"))
    assert iv.close(T0 + 64) == []  # the first minute is still within its grace
    assert _view(iv.close(T0 + 65)) == [("a", 0, 1, 1, 0), ("b", 0, 0, 0, 0)]
    assert _view(iv.close(T0 + 185)) == [
        ("a", 60, 0, 0, 0),
        ("b", 60, 0, 0, 0),
        ("a", 120, 0, 0, 0),
        ("b", 120, 0, 0, 0),
    ]


def test_a_late_crossing_republishes_absolute_counts_with_the_next_revision() -> None:
    iv = Intervals(["a"], seconds=60, grace=0)
    iv.close(T0)
    iv.add(_c("a", T0 + 1))
    assert _view(iv.close(T0 + 60)) == [("a", 0, 1, 0, 0)]
    iv.add(_c("a", T0 + 2))  # a node's backlog after a reconnect
    iv.add(_c("a", T0 + 3, "out"))
    assert _view(iv.close(T0 + 61)) == [("a", 0, 2, 1, 1)]
    assert iv.close(T0 + 62) == []
    assert (iv.figures.late, iv.figures.corrections) == (2, 1)


def test_state_round_trips_through_its_rows() -> None:
    iv = Intervals(["a"], seconds=60, grace=0)
    iv.close(T0)
    iv.add(_c("a", T0 + 1))
    iv.close(T0 + 60)
    iv.add(_c("a", T0 + 2))
    rows, pruned = iv.take_changes()
    assert pruned is None
    again = Intervals(["a"], seconds=60, grace=0, rows=rows, closed_until=iv.closed_until)
    assert _view(again.close(T0 + 60)) == [("a", 0, 2, 0, 1)]


def test_flush_publishes_the_open_interval() -> None:
    iv = Intervals(["a"], seconds=60, grace=5)
    iv.add(_c("a", T0 + 70))
    assert _view(iv.flush()) == [("a", 60, 1, 0, 0)]


def test_crossings_older_than_the_retention_are_counted_not_published() -> None:
    iv = Intervals(["a"], seconds=60, grace=0)
    iv.close(T0 + RETENTION + 120)
    iv.add(_c("a", T0))
    assert iv.figures.too_late == 1
    assert iv.close(T0 + RETENTION + 121) == []


@settings(max_examples=60, deadline=None)
@given(
    offsets=st.lists(
        st.tuples(st.floats(0, 600), st.booleans(), st.sampled_from("ab")), max_size=40
    ),
    closes=st.lists(st.floats(0, 700), max_size=10),
)
def test_final_values_equal_the_counts_whatever_the_arrival_order(
    offsets: list[tuple[float, bool, str]], closes: list[float]
) -> None:
    """Crossings arrive in any order, closes happen at any time: the last revision of every
    interval equals the plain per-interval count."""
    iv = Intervals(["a", "b"], seconds=60, grace=0)
    iv.close(T0)
    published: dict[tuple[str, int], IntervalRow] = {}
    schedule = sorted(closes)
    for off, inbound, door in offsets:
        while schedule and schedule[0] < off:
            for row in iv.close(T0 + schedule.pop(0)):
                published[(row.door, row.start)] = row
        iv.add(_c(door, T0 + off, "in" if inbound else "out"))
    for row in iv.flush():
        assert (row.door, row.start) not in published or row.revision > published[
            (row.door, row.start)
        ].revision
        published[(row.door, row.start)] = row
    expected: Counter[tuple[str, int, bool]] = Counter(
        (door, math.floor((T0 + off) / 60) * 60, inbound) for off, inbound, door in offsets
    )
    for (door, start), row in published.items():
        assert (row.entries, row.exits) == (
            expected[(door, start, True)],
            expected[(door, start, False)],
        )
    assert {(d, s) for d, s, _ in expected} <= set(published)
