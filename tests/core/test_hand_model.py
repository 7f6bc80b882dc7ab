"""A door learns whether its hand and bag blips cross both beams, and where they do not, the
first touch and last leave lose their say (docs/engine.md, "Which hand model a door follows")."""

from __future__ import annotations

import random

import pytest

from benchmarks.episode import parse
from benchmarks.robustness import Job, _cleanroom
from gateway.core.decide import (
    HAND_REACH,
    INNER,
    MEDIAN_DOOR_LAG_S,
    OUTER,
    PIECE_MIN_S,
    Interval,
    Limits,
    clean,
    decide,
    median_lag,
    split_intervals,
)
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


# A walker going in at 12 cm, brisk (independent generator, 30 min, seed 1), at a door that
# has learned loose hands and a 67 ms walking lag. Arm gaps cut the inner torso's front into
# three pieces and a 42 ms gap cuts off its back, so its core ends before the outer one's and a
# bag behind on the outer beam only is the last leave: the edges say "out". Half the inner
# beam's blocked time has passed 38 ms after half the outer's: "in".
MEDIANS_SAY_IN = "Ov-144 Iv-144 I^-100 Iv-91 I^-61 Iv-51 I^-17 Iv+25 O^+79 I^+134 Ov+170 O^+209"


def test_median_lag_is_the_lag_between_the_beams_blocked_time_halves() -> None:
    edges = parse(MEDIANS_SAY_IN)
    raw_o, raw_i = split_intervals(edges)
    assert median_lag(raw_o, raw_i) == pytest.approx(0.0385)
    assert median_lag(raw_o, []) is None
    # Pulses shorter than PIECE_MIN_S are receiver noise, not an object: no median.
    assert median_lag([Interval(0.0, PIECE_MIN_S / 2)], raw_i) is None


def test_a_blip_moves_its_beams_median_by_half_its_length_at_most() -> None:
    rng = random.Random(7)
    for _ in range(500):
        torso = Interval(0.0, rng.uniform(0.06, 0.4))
        length = rng.uniform(0.012, 0.05)
        ahead = rng.random() < 0.5
        gap = rng.uniform(0.001, 0.15)
        start = -gap - length if ahead else torso.end + gap
        blip = Interval(start, start + length)
        other = [Interval(0.05, 0.3)]
        alone = median_lag(other, [torso])
        with_blip = median_lag(other, sorted([torso, blip], key=lambda iv: iv.start))
        assert alone is not None
        assert with_blip is not None
        assert abs(with_blip - alone) <= length / 2 + 1e-12


def test_the_medians_decide_a_walker_at_a_loose_door_whose_walking_lag_is_long() -> None:
    edges = parse(MEDIANS_SAY_IN)
    tuning = Limits.of(DoorTuning())

    def way(loose: bool, walk_lag: float | None) -> str:
        (crossing,) = decide(edges, tuning, 3.455, 0.098, loose, walk_lag).crossings
        return crossing.direction

    assert way(True, 0.067) == "in"
    assert way(True, None) == "out"  # the door has not learned its walking lag yet
    # At 5 cm brisk (~30 ms) one blip on each beam can reverse the medians' order.
    assert way(True, MEDIAN_DOOR_LAG_S - 0.001) == "out"
    assert way(False, 0.067) == "out"  # hands that cross both beams go the body's way


def test_a_medians_lag_a_blip_could_have_made_has_no_say() -> None:
    # Going in: torsos 0..200 ms outer and 20..230 ms inner (an arm gap at 198-215 ms), and a
    # 50 ms bag behind on the outer beam only, the last leave. Half the inner beam's blocked
    # time passes 8.5 ms before half the outer's, which that bag alone makes: the medians have
    # no say, and the torsos, whose lags agree, decide.
    edges = parse("Ov+0 Iv+20 I^+198 O^+200 Iv+215 I^+230 Ov+235 O^+285")
    raw_o, raw_i = split_intervals(edges)
    assert median_lag(raw_o, raw_i) == pytest.approx(-0.0085)
    (crossing,) = decide(edges, Limits.of(DoorTuning()), None, 0.0, True, 0.08).crossings
    assert crossing.direction == "in"


@pytest.mark.parametrize(
    ("spacing", "speed", "low", "high"),
    [(0.12, "walk", 0.07, 0.14), (0.05, "brisk", 0.015, MEDIAN_DOOR_LAG_S)],
)
def test_a_door_learns_its_walking_lag_from_its_single_crossings(
    spacing: float, speed: str, low: float, high: float
) -> None:
    # The lag is the spacing over the walking speed (the sweep's bands): 12 cm at 0.9-1.7 m/s
    # is 71-133 ms, 5 cm at 1.7-2.8 m/s 18-29 ms, which blips and gaps blur by a few ms; that
    # door stays below the lag where the medians decide.
    job = Job("single", "cleanroom", spacing, 0.7, False, 0.35, speed, 1, 10.0)
    header, records = _cleanroom(job, False)
    engine = Engine(header.doors)
    (door,) = engine._doors
    assert door.walk_lag is None
    engine.run([r for r in records if isinstance(r, Tick)])
    assert door.walk_lag is not None
    assert low < door.walk_lag < high


@pytest.mark.parametrize(
    ("piece", "bodies"),
    [
        # a hand (45 ms, too short for a torso) 0.31 s behind a 110 ms torso: still its own
        ((0.420, 0.465), 1),
        # an 80 ms bag 0.16 s behind: within 1.5 torso lengths (165 ms)
        ((0.270, 0.350), 1),
        # the same 80 ms 0.2 s behind: a torso can make it and no hand reaches there
        ((0.310, 0.390), 2),
    ],
)
def test_a_piece_a_torso_could_make_beyond_a_hands_reach_is_a_body(piece, bodies) -> None:
    tuning = Limits.of(DoorTuning())
    assert HAND_REACH * 0.110 < 0.2
    got = clean([Interval(0.0, 0.110), Interval(*piece)], tuning)
    assert len(got) == bodies
    assert got[0].core == Interval(0.0, 0.110)
    if bodies == 1:
        assert got[0].extent == Interval(0.0, piece[1])


def test_a_hands_reach_is_never_under_the_blips_measured_offsets() -> None:
    # An 80 ms torso (a brisk walker) reaches 120 ms by its length, but issue 12 measured blips
    # up to 140 ms from the torso at any pace: a 60 ms piece 140 ms behind stays its own.
    got = clean([Interval(0.0, 0.080), Interval(0.220, 0.280)], Limits.of(DoorTuning()))
    assert [b.extent for b in got] == [Interval(0.0, 0.280)]


def test_a_hands_reach_counts_from_the_whole_torso_an_arm_gap_cut() -> None:
    # A brisk torso cut by a 45 ms arm gap into 42 and 83 ms pieces, a 61 ms hand ahead of it:
    # 84 ms from the torso's front, 171 ms from its longest piece. The hand stays its own.
    raw = [Interval(-0.203, -0.142), Interval(-0.058, -0.016), Interval(0.029, 0.112)]
    got = clean(raw, Limits.of(DoorTuning()))
    assert [(b.core, b.extent) for b in got] == [(Interval(0.029, 0.112), Interval(-0.203, 0.112))]
