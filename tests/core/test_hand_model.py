"""A door learns whether its hand and bag blips cross both beams, and where they do not, the
first touch and last leave lose their say (docs/engine.md, "Which hand model a door follows")."""

from __future__ import annotations

import random

import pytest

from benchmarks.episode import parse
from benchmarks.robustness import Job, _cleanroom
from gateway.core.decide import INNER, OUTER, Limits, decide
from gateway.core.engine import HAND_MIN, HAND_SAMPLES, Engine
from gateway.core.tuning import DoorTuning
from gateway.protocol.trace import Tick
from tests.support.enginekit import two_node_door

# One walker going in: the torsos 200 ms long, the inner one 30 ms behind at both ends. A hand
# shows ahead on the inner beam only and a bag behind on the outer beam only, so the first
# touch and the last leave both say "out".
EDGES = [
    (-0.070, INNER, True),
    (-0.030, INNER, False),
    (0.000, OUTER, True),
    (0.030, INNER, True),
    (0.200, OUTER, False),
    (0.230, INNER, False),
    (0.240, OUTER, True),
    (0.280, OUTER, False),
]


def test_where_blips_fall_on_each_beam_by_itself_the_torsos_decide() -> None:
    tuning = Limits.of(DoorTuning())
    (tight,) = decide(EDGES, tuning, None).crossings
    (loose,) = decide(EDGES, tuning, None, loose_hands=True).crossings
    assert tight.direction == "out"  # a hand that crosses both beams goes the body's way
    assert loose.direction == "in"  # the torsos' lags agree: one body going in


def test_a_clean_crossing_reports_its_ends_and_a_turn_none() -> None:
    tuning = Limits.of(DoorTuning())
    # (outer, inner) ahead and behind: the inner beam's hand ahead, the outer's bag behind.
    assert decide(EDGES, tuning, None).hand_ends == [(False, True), (True, False)]
    turn = [(0.0, OUTER, True), (0.1, INNER, True), (0.9, INNER, False), (1.0, OUTER, False)]
    assert decide(turn, tuning, None).hand_ends == []


def _door_after(ends: list[tuple[bool, bool]]) -> object:
    door = Engine(two_node_door().doors)._doors[0]
    for k in range(0, len(ends), 2):
        door.learn_hands(ends[k : k + 2])
    return door


def test_a_door_finds_its_blips_loose_only_with_enough_of_them_and_no_association() -> None:
    rng = random.Random(1)
    independent = [(rng.random() < 0.4, rng.random() < 0.4) for _ in range(400)]
    together = [(b, b) for b, _ in independent]
    door = _door_after(independent)
    assert door.loose_hands  # type: ignore[attr-defined]
    assert not _door_after(together).loose_hands  # type: ignore[attr-defined]
    # Too few blips to tell: the door keeps trusting the first touch and last leave.
    few = [(True, False)] * (HAND_MIN - 1) + [(False, False)] * 20
    assert not _door_after(few).loose_hands  # type: ignore[attr-defined]
    # The window keeps the last HAND_SAMPLES ends, and its counts are theirs.
    kept = list(door.hands)  # type: ignore[attr-defined]
    assert len(kept) == HAND_SAMPLES
    assert kept == independent[-HAND_SAMPLES:]
    counts = [0, 0, 0, 0]
    for outer, inner in kept:
        counts[2 * outer + inner] += 1
    assert door.hand_counts == counts  # type: ignore[attr-defined]


@pytest.mark.parametrize(("same", "loose"), [(False, True), (True, False)])
def test_the_engine_learns_the_independent_generators_blip_order(same: bool, loose: bool) -> None:
    # Issue 12's blips drawn on each beam by itself, or one draw for both: 10 min of single file.
    job = Job("single", "cleanroom", 0.12, 0.7, same, 0.35, "walk", 1, 10.0)
    header, records = _cleanroom(job, False)
    engine = Engine(header.doors)
    engine.run([r for r in records if isinstance(r, Tick)])
    (door,) = engine._doors
    assert door.loose_hands is loose


def test_torsos_whose_lags_agree_outweigh_the_blocked_time_at_a_loose_door() -> None:
    # A walker going out at 5 cm, brisk (independent generator): torsos -35..57 ms outer and
    # -56..38 ms inner, lags -21 and -19 ms. A hand ahead on the outer beam only and an arm
    # gap in the inner torso pull the blocked time's best shift to +37 ms ("in").
    edges = parse("Ov-107 O^-68 Iv-56 Ov-35 I^-32 Iv+4 I^+38 O^+57 Iv+155 I^+172")
    (crossing,) = decide(edges, Limits.of(DoorTuning()), None, loose_hands=True).crossings
    assert crossing.direction == "out"


def test_torsos_that_agree_only_in_sign_leave_it_to_the_blocked_time_at_a_loose_door() -> None:
    # Going in: the inner torso 10 ms behind at the front and 60 ms at the back (a bag merged
    # into its end). A hand ahead on the inner beam only and one behind on the outer only make
    # the first touch and last leave say "out"; the blocked time's best shift says "in".
    edges = parse("Iv-80 I^-40 Ov+0 Iv+10 O^+200 I^+260 Ov+280 O^+320")
    tuning = Limits.of(DoorTuning())
    (tight,) = decide(edges, tuning, None).crossings
    (loose,) = decide(edges, tuning, None, loose_hands=True).crossings
    assert (tight.direction, loose.direction) == ("out", "in")
