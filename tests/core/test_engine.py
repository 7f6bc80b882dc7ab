"""The counting engine on hand-built physical patterns, one behaviour per test."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import pytest

from gateway.core.decide import Body, Interval, direction_of
from gateway.core.engine import Engine
from gateway.core.events import Crossing, DoorOccupancy, Health
from gateway.core.tuning import DoorTuning, EngineConfig
from gateway.protocol.trace import Tick
from tests.support.enginekit import T0, Site, dual_beam_door, two_node_door, warm_up


def crossings(site: Site, ticks: list[Tick] | None = None, after: float = -5.0) -> list[Crossing]:
    engine = Engine(site.doors)
    events = engine.run(ticks if ticks is not None else site.ticks())
    return [e for e in events if isinstance(e, Crossing) and e.t > T0 + after]


def directions(cs: list[Crossing]) -> list[str]:
    return [c.direction for c in sorted(cs, key=lambda c: c.t)]


@pytest.mark.parametrize("make", [two_node_door, dual_beam_door])
@pytest.mark.parametrize("direction", ["in", "out"])
def test_single_walker_counted_once_in_its_direction(make, direction):
    site = make()
    warm_up(site)
    site.walk(0, 10.0, direction)
    cs = crossings(site)
    assert directions(cs) == [direction]
    assert cs[0].t == pytest.approx(T0 + 10.0, abs=0.05)
    assert cs[0].kind == "single"


@pytest.mark.parametrize(("speed", "spacing"), [(2.0, 0.05), (0.6, 0.30), (1.3, 0.12)])
def test_speed_and_spacing_extremes(speed, spacing):
    site = two_node_door()
    for k in range(16):  # a door's spacing is fixed: learn it with ordinary walkers
        site.walk(0, -400.0 + 20.0 * k, "in" if k % 2 == 0 else "out", spacing=spacing)
    site.walk(0, 5.0, "in", speed=speed, spacing=spacing)
    site.walk(0, 15.0, "out", speed=speed, spacing=spacing)
    assert directions(crossings(site)) == ["in", "out"]


def test_uturn_into_outer_beam_only_is_not_counted():
    site = two_node_door()
    warm_up(site)
    site.add("o1", 0, 10.0, 10.6)  # steps into the outer beam, steps back
    assert crossings(site) == []


def test_uturn_into_both_beams_is_not_counted():
    site = two_node_door()
    warm_up(site)
    # Outer breaks first, inner breaks, then the inner clears first: came in, went back.
    site.add("o1", 0, 10.0, 11.4)
    site.add("i1", 0, 10.15, 10.9)
    assert crossings(site) == []


def test_glitches_are_ignored():
    site = two_node_door()
    warm_up(site)
    for k in range(20):
        site.add("o1", 0, 5.0 + k * 1.7, 5.0 + k * 1.7 + 0.002 + 0.0015 * k)
        site.add("i1", 0, 6.1 + k * 1.3, 6.1 + k * 1.3 + 0.025)
    assert crossings(site) == []


def test_arm_blips_before_and_after_the_body_do_not_double_count():
    site = two_node_door()
    warm_up(site)
    site.walk(0, 10.0, "in")
    # A hand swinging ahead breaks both beams briefly before the body, and behind it after.
    t_body_o = T0 + 10.0 - (0.075 + 0.15) / 1.3
    site.add("o1", 0, t_body_o - T0 - 0.16, t_body_o - T0 - 0.10)
    site.add("i1", 0, t_body_o - T0 - 0.05, t_body_o - T0 + 0.005)
    site.add("o1", 0, t_body_o - T0 + 0.30, t_body_o - T0 + 0.36)
    assert directions(crossings(site)) == ["in"]


def test_tailgaters_with_short_gap_are_two_people():
    site = two_node_door()
    warm_up(site)
    # depth 0.30 m at 1.3 m/s lasts 0.23 s; the second follows 0.15 s after the first clears.
    site.walk(0, 10.0, "in")
    site.walk(0, 10.0 + 0.30 / 1.3 + 0.15, "in")
    cs = crossings(site)
    assert directions(cs) == ["in", "in"]


@pytest.mark.parametrize(
    "second",
    [
        # At 2.3 m/s a 0.2 m torso breaks the outer beam for 90 ms: as short as a hand, and
        # within reach of the first walker's break, but the inner beam's 130 ms break (no
        # other body near it there) has it as its counterpart.
        pytest.param([("o1", 10.530, 10.620), ("i1", 10.640, 10.770)], id="short-on-one-beam"),
        # The same, the 90 ms outer break flickering clear for 15 ms: one object
        # (`merge_gap_s`), not two pieces too short for a torso.
        pytest.param(
            [("o1", 10.530, 10.560), ("o1", 10.575, 10.620), ("i1", 10.640, 10.770)],
            id="short-with-a-flicker",
        ),
        # 90 ms on each beam, 30 ms apart: hand-short on both beams, but as long for its lag
        # as the door's usual walker, which a hand never is.
        pytest.param([("o1", 10.530, 10.620), ("i1", 10.570, 10.660)], id="short-on-both-beams"),
    ],
)
def test_a_brisk_tailgater_whose_torso_is_shorter_than_a_blip_is_counted(second):
    site = two_node_door()
    warm_up(site)
    site.add("o1", 0, 10.000, 10.190)  # the walker ahead
    site.add("i1", 0, 10.110, 10.300)
    for node, start, end in second:
        site.add(node, 0, start, end)
    assert directions(crossings(site)) == ["in", "in"]


def test_a_tailgater_whose_torso_an_arm_gap_cuts_in_two_short_pieces_is_counted():
    site = dual_beam_door()
    warm_up(site)
    # Three walkers at 2.3 m/s, beams 30 cm apart. The middle one's torso breaks the outer
    # beam for 180 ms, cut by a 45 ms clear beside an arm into pieces of 96 and 39 ms: each
    # as short as a hand, within reach of the others' breaks; together one body-long break.
    site.add("d1", 0, 9.546, 9.665)
    site.add("d1", 1, 9.677, 9.807)
    site.add("d1", 0, 9.827, 9.923)
    site.add("d1", 0, 9.968, 10.007)
    site.add("d1", 1, 9.990, 10.207)
    site.add("d1", 0, 10.309, 10.535)
    site.add("d1", 1, 10.442, 10.662)
    assert directions(crossings(site)) == ["in", "in", "in"]


@pytest.mark.parametrize("make", [two_node_door, dual_beam_door])
@pytest.mark.parametrize("warm", [False, True], ids=["new-door", "learned-door"])
def test_a_quick_walker_beyond_a_hands_reach_of_the_one_ahead_is_counted(make, warm):
    site = make()
    if warm:
        warm_up(site)
    outer, inner = site.beams()
    # Two people at ~2 m/s, 5 cm beams: each torso breaks each beam for 110 ms, under
    # `blip_s`. The second's breaks start 0.31 s after the first's end: 0.6 m behind, nearly
    # three torso lengths, where no swinging hand reaches (`HAND_REACH`).
    for start in (10.000, 10.420):
        site.add(*outer, start, start + 0.110)
        site.add(*inner, start + 0.030, start + 0.140)
    assert directions(crossings(site)) == ["in", "in"]


@pytest.mark.parametrize("make", [two_node_door, dual_beam_door])
def test_a_hand_or_a_bag_within_reach_stays_with_its_quick_walker(make):
    site = make()
    outer, inner = site.beams()
    # The same first walker with a hand 0.31 s behind on both beams (a 45 ms break, too short
    # for a torso), then again with a bag 0.16 s behind (80 ms, within 1.5 torso lengths).
    for t, (start, end) in ((10.0, (0.420, 0.465)), (20.0, (0.270, 0.350))):
        for (node, beam), lag in ((outer, 0.0), (inner, 0.030)):
            site.add(node, beam, t + lag, t + lag + 0.110)
            site.add(node, beam, t + lag + start, t + lag + end)
    assert directions(crossings(site)) == ["in", "in"]


@pytest.mark.parametrize("make", [two_node_door, dual_beam_door])
def test_an_arm_gap_in_one_beam_does_not_pair_a_slow_queue_one_person_off(make):
    site = make()
    outer, inner = site.beams()
    # Four people walking in slowly one behind the other past beams 30 cm apart: each torso
    # breaks a beam for 0.42 s and reaches the inner beam 0.55 s after the outer, so one
    # person's two breaks never overlap, and the next person is in the outer beam before
    # the first leaves the inner one. The first person's inner break is cut in two by an
    # arm-torso gap (40 ms). Pairing its second piece with the next person's outer break
    # shifted the whole queue by one and counted three people walking out.
    for k in range(4):
        t = 10.0 + 0.85 * k
        site.add(*outer, t, t + 0.42)
        if k == 0:
            site.add(*inner, t + 0.55, t + 0.75)
            site.add(*inner, t + 0.79, t + 0.97)
        else:
            site.add(*inner, t + 0.55, t + 0.97)
    assert directions(crossings(site)) == ["in"] * 4


@pytest.mark.parametrize("make", [two_node_door, dual_beam_door])
def test_a_brisk_tailgater_seen_on_one_beam_only_between_arm_gaps_is_counted(make):
    site = make()
    warm_up(site)
    outer, inner = site.beams()
    # Two people walking in briskly past beams 30 cm apart. The second's torso breaks the
    # outer beam for 150 ms, but the inner beam only between its arms: 47 ms and 28 ms
    # with a 35 ms arm gap, neither piece long enough for a torso by itself, together as
    # long as the outer break at the same pace.
    site.add(*outer, 9.420, 9.620)
    site.add(*inner, 9.670, 9.870)
    site.add(*outer, 9.870, 10.020)
    site.add(*inner, 10.010, 10.057)
    site.add(*inner, 10.092, 10.120)
    assert directions(crossings(site)) == ["in", "in"]


def test_someone_standing_in_one_beam_is_not_two_people_passing_on_a_busy_door():
    site = dual_beam_door()
    warm_up(site)
    for k in range(30):  # someone every 2 s, both ways: people do pass each other here
        site.walk(0, -52.0 + 2.0 * k, "in" if k % 2 else "out")
    # The inner beam is covered for 1.86 s while the outer beam breaks twice, for 142 and
    # 126 ms. Two people passing would cover the inner beam with those two bodies, each
    # about as long there as on the outer beam; these leave 1.6 s of it to nobody.
    site.add("d1", 1, 8.465, 10.326)
    site.add("d1", 0, 9.498, 9.640)
    site.add("d1", 0, 9.677, 9.803)
    assert crossings(site, after=8.0) == []


def test_a_bag_carried_just_ahead_is_not_a_second_person():
    site = dual_beam_door()
    warm_up(site)
    # Beams 5 cm apart; what the walker carries ahead breaks each beam for 80-130 ms, a
    # clear of 155 ms (outer) and 107 ms (inner) ahead of the torso: closer than people
    # walking one behind the other keep on the inner beam, so it is no second person.
    site.add("d1", 0, 9.651, 9.729)
    site.add("d1", 1, 9.693, 9.824)
    site.add("d1", 0, 9.884, 10.073)
    site.add("d1", 1, 9.931, 10.143)
    assert directions(crossings(site)) == ["in"]


def test_opposite_flows_close_together():
    site = two_node_door()
    warm_up(site)
    site.walk(0, 10.0, "in")
    site.walk(0, 10.9, "out")
    assert directions(crossings(site)) == ["in", "out"]


def test_lingering_in_the_beams_then_walking_in_counts_once():
    site = two_node_door()
    warm_up(site)
    # Steps into the outer beam, stands 8 s swaying (inner flickers at the body's edge), walks in.
    site.add("o1", 0, 10.0, 18.4)
    site.add("i1", 0, 10.2, 12.0)
    site.add("i1", 0, 12.4, 15.0)
    site.add("i1", 0, 15.5, 18.6)
    cs = crossings(site)
    assert directions(cs) == ["in"]


def test_lingering_then_retreating_is_not_counted():
    site = two_node_door()
    warm_up(site)
    site.add("o1", 0, 10.0, 18.4)
    site.add("i1", 0, 10.2, 12.0)
    site.add("i1", 0, 12.4, 15.0)
    assert crossings(site) == []


@pytest.mark.parametrize(
    ("front_lag", "back_lag", "middle_at"),
    [
        (0.12, 0.35, 10.2),  # walked past the middle, stopped, got going again slowly
        (0.35, 0.12, 18.3),  # slowed to a stop short of the middle, then walked through
    ],
)
def test_a_lingerer_is_timed_on_the_side_it_stood(front_lag, back_lag, middle_at):
    site = two_node_door()
    warm_up(site)
    # Stands 8 s covering both beams without a telling sway; only the pace of the two
    # pairs of edges says where: the slower pair was walked next to the stop.
    site.add("o1", 0, 10.0, 18.4)
    site.add("i1", 0, 10.0 + front_lag, 18.4 + back_lag)
    (c,) = crossings(site)
    assert c.direction == "in"
    assert abs(c.t - (T0 + middle_at)) < 1.0


@pytest.mark.parametrize("passing", [True, False])
def test_two_people_passing_inside_each_others_breaks(passing):
    site = two_node_door()
    warm_up(site)
    # In a wide door someone walks in as someone else walks out, side by side in the beams:
    # each beam sees one short break, one inside the other (the edges of a quick U-turn).
    site.add("o1", 0, 10.0, 10.45)
    site.add("i1", 0, 10.08, 10.38)
    engine = Engine(site.doors, EngineConfig(default=DoorTuning(passing=passing)))
    events = engine.run(site.ticks())
    cs = [e for e in events if isinstance(e, Crossing) and e.t > T0]
    assert sorted(c.direction for c in cs) == (["in", "out"] if passing else [])


@pytest.mark.parametrize("make", [two_node_door, dual_beam_door])
def test_one_walker_whose_breaks_nest_is_not_two_people_passing(make):
    site = make()
    warm_up(site)
    # Going out quickly past beams 5 cm apart: a hand merged into the outer beam's break
    # moved its front 50 ms early, and an arm-torso gap cut the inner torso's front off
    # (the 7 ms piece 45 ms before it). The two breaks nest, which is also the edges of two
    # people passing; only one body is there, and it leads on the inner beam.
    outer, inner = site.beams()
    site.add(*outer, 9.949, 10.092)
    site.add(*inner, 9.927, 9.934)
    site.add(*inner, 9.979, 10.062)
    assert directions(crossings(site)) == ["out"]


@pytest.mark.parametrize(("gap", "expected"), [(20.0, ["out"]), (1.5, ["in", "out"])])
def test_nested_breaks_are_one_walker_on_a_quiet_door_two_passing_on_a_busy_one(gap, expected):
    site = two_node_door()
    # A door's traffic before: a walker every `gap` seconds, either way.
    for k in range(16 if gap > 10 else 120):
        site.walk(0, -10.0 - gap * k, "in" if k % 2 == 0 else "out")
    # The inner break lies inside the outer one: a walker going out whose hand showed on the
    # inner beam first (77 ms ahead) and merged into the outer break's front, or two people
    # passing. The walker out is the likelier walker, but not by `NEST_MARGIN`: on a quiet
    # door (one person every 20 s) nobody was there to pass it; on a busy one (every 1.5 s)
    # two people passing is likelier and counted as such.
    site.add("o1", 0, 10.0, 10.308)
    site.add("i1", 0, 9.923, 9.948)
    site.add("i1", 0, 10.041, 10.252)
    assert sorted(directions(crossings(site))) == expected


@pytest.mark.parametrize(("since", "expected"), [(30.0, ["out"]), (2.0, ["in", "out"])])
@pytest.mark.parametrize("make", [two_node_door, dual_beam_door])
def test_a_new_doors_rate_is_taken_over_the_time_since_its_first_crossing(make, since, expected):
    site = make()
    # The door's first crossing, `since` seconds before the nest of the test above (a walker
    # going out, likelier than going in but not by `NEST_MARGIN`). Half a minute of a quiet
    # door is one person each way per minute: nobody was there to pass the walker. Two
    # seconds after its first crossing the door may be as busy as can be: two people passing.
    site.walk(0, 10.0 - since, "in")
    site.add(*site.beams()[0], 10.0, 10.308)
    site.add(*site.beams()[1], 9.923, 9.948)
    site.add(*site.beams()[1], 10.041, 10.252)
    cs = crossings(site, after=-60.0)
    assert [c.direction for c in cs if c.t < T0 + 9.0] == ["in"]
    assert sorted(c.direction for c in cs if c.t > T0 + 9.0) == expected


def test_a_hand_a_flicker_gap_ahead_of_the_torso_does_not_make_a_walker_two_people_passing():
    site = two_node_door()
    # A busy door (a walker every 1.5 s, either way), where two people passing is likely.
    for k in range(120):
        site.walk(0, -10.0 - 1.5 * k, "in" if k % 2 == 0 else "out")
    # Going in briskly past beams 5 cm apart (sweep seed 1): the torso breaks outer then
    # inner, 30 ms apart at the front and 22 ms at the back. A hand 29 ms ahead of the inner
    # torso (a clear as short as flicker) makes the inner beam's front look 37 ms early,
    # nesting the breaks; hands and wrist blips on both beams around them.
    for start, end in ((9.794, 9.817), (9.914, 10.072), (10.132, 10.147)):
        site.add("o1", 0, start, end)
    for start, end in ((9.877, 9.915), (9.944, 10.094), (10.117, 10.154)):
        site.add("i1", 0, start, end)
    assert directions(crossings(site)) == ["in"]


@pytest.mark.parametrize(("gap", "expected"), [(20.0, ["in"]), (1.5, ["in", "out"])])
def test_a_shared_break_is_one_walker_on_a_quiet_door_two_passing_on_a_busy_one(gap, expected):
    site = two_node_door()
    for k in range(16 if gap > 10 else 120):
        site.walk(0, -10.0 - gap * k, "in" if k % 2 == 0 else "out")
    # Shop-day seed 6: a walker going in, a hand ahead on the outer beam (40 ms) that then
    # merged into the front of the inner break, and an arm-torso gap (50 ms) in the inner
    # break. Two inner breaks under one outer break, the first leading and the second
    # trailing, are also two people passing each other, one each way; that needs someone
    # walking out at that moment, which a door with one person every 20 s rarely has.
    site.add("o1", 0, 9.732, 9.772)
    site.add("o1", 0, 9.853, 10.332)
    site.add("i1", 0, 9.782, 10.157)
    site.add("i1", 0, 10.207, 10.407)
    assert sorted(directions(crossings(site))) == expected


def test_a_brisk_arm_swing_nesting_the_breaks_is_one_walker_the_way_the_door_length_fits():
    site = two_node_door()
    for k in range(16):  # a quiet door (one walker every 20 s) learns its usual length
        site.walk(0, -400.0 + 20.0 * k, "in" if k % 2 == 0 else "out")
    # Shop-day seed 4: going out briskly (1.7 m/s) with a 0.33 m arm swing. The inner torso
    # break lasts 204 ms; on the outer beam a hand held the beam 150 ms before the torso and
    # 60 ms after it, so the outer break (413 ms) holds the inner one. Either direction needs
    # a hand merged into the outer break, so the edges tie, and the quiet door made it two
    # people passing. At the door's usual length the torso's lag is ~100 ms: going out leaves
    # it 156 ms of room after the inner torso, going in only 53 ms before it.
    site.add("i1", 0, 9.710, 9.743)  # the hand ahead, on the inner beam only
    site.add("i1", 0, 9.844, 10.048)
    site.add("o1", 0, 9.791, 10.204)
    assert directions(crossings(site)) == ["out"]


@pytest.mark.parametrize("make", [two_node_door, dual_beam_door])
def test_hands_seen_on_one_beam_each_do_not_turn_a_walker_around(make):
    site = make()
    warm_up(site)
    # Going in: a hand ahead shows on the inner beam only (100 ms before the torso reaches
    # the outer one), a bag behind on the outer only, so the first touch is inner and the last
    # leave outer, at lags no one thing crossing both beams makes (100 and 48 ms). The
    # torso's own breaks, one lag at both ends, say in.
    outer, inner = site.beams()
    site.add(*outer, 9.908, 10.065)
    site.add(*outer, 10.100, 10.140)
    site.add(*inner, 9.808, 9.850)
    site.add(*inner, 9.937, 10.092)
    assert directions(crossings(site)) == ["in"]


@pytest.mark.parametrize("make", [two_node_door, dual_beam_door])
def test_a_hand_too_short_for_clean_still_moves_with_the_walker(make):
    site = make()
    warm_up(site)
    # Shop-day seed 5: going out, the torso breaks inner then outer, 114 ms apart at the
    # front and 110 ms at the back. A hand ahead crosses inner (33 ms) then outer (84 ms), one
    # behind inner (60 ms) then outer (27 ms), each pair a torso's lag apart. The 33 ms and
    # 27 ms pieces are shorter than `glitch_s`, so without them the first touch was outer and
    # the last leave inner: in. A glitch strikes one beam; a hand crosses both.
    outer, inner = site.beams()
    for start, end in ((9.766, 9.850), (9.956, 10.193), (10.286, 10.313)):
        site.add(*outer, start, end)
    for start, end in ((9.647, 9.680), (9.842, 10.083), (10.174, 10.234)):
        site.add(*inner, start, end)
    assert directions(crossings(site)) == ["out"]


def lay(
    site: Site,
    outer_breaks: Iterable[tuple[float, float]],
    inner_breaks: Iterable[tuple[float, float]],
) -> None:
    """Add each (start, end) break to the door's outer and inner beam."""
    outer, inner = site.beams()
    for start, end in outer_breaks:
        site.add(*outer, start, end)
    for start, end in inner_breaks:
        site.add(*inner, start, end)


# One walker carrying a bag, on each beam: (outer breaks, inner breaks), and the direction.
# `behind`: our simulator at 12 cm, going out with a bag carried behind; torso, ~0.1 s clear,
# the bag, on each beam 0.13 s apart. The bag breaks inner for 134 ms (a body, over `blip_s`)
# and outer for 118 ms (a blip). `ahead`: real-day, going in with a bag carried ahead, which
# breaks inner for 127 ms and outer for 114 ms.
CARRIED = {
    "behind": (
        ((9.613, 9.663), (9.763, 10.018), (10.108, 10.226)),
        ((9.530, 9.566), (9.629, 9.878), (9.982, 10.116)),
        "out",
    ),
    "ahead": (
        ((9.712, 9.826), (9.929, 10.109), (10.132, 10.227)),
        ((9.820, 9.947), (10.034, 10.239), (10.284, 10.333)),
        "in",
    ),
}


@pytest.mark.parametrize("case", sorted(CARRIED))
@pytest.mark.parametrize("make", [two_node_door, dual_beam_door])
def test_a_bag_one_beam_calls_a_hand_is_no_second_person(make, case):
    site = make()
    warm_up(site)
    for k in range(60):  # a busy door (24 a minute): two people may well pass in it
        site.walk(0, -160.0 + 2.5 * k, "in" if k % 2 == 0 else "out")
    # Only the beam where the bag is body-long showed `carry` its gap, and the other beam's
    # break was shared by two people passing. The same object crosses both beams at the
    # walker's lag for about as long: one walker and what they carry.
    outer_breaks, inner_breaks, direction = CARRIED[case]
    lay(site, outer_breaks, inner_breaks)
    assert directions(crossings(site)) == [direction]


# A brisk walker going out whose torso one beam sees past an arm-torso gap, in two pieces
# each shorter than a light glitch: (outer breaks, inner breaks). `sim`: our simulator at
# 12 cm, the outer torso break cut by a 45 ms gap into 23 and 30 ms. `cleanroom`: the
# independent generator at 12 cm, the inner one cut by 36 ms into 24 and 35 ms.
ARM_GAP_TORSO = {
    "sim": (((9.985, 10.008), (10.053, 10.083)), ((9.933, 10.000), (10.015, 10.030))),
    "cleanroom": (
        ((9.907, 9.947), (9.979, 10.069)),
        ((9.930, 9.954), (9.990, 10.0245), (10.142, 10.158)),
    ),
}


@pytest.mark.parametrize("case", sorted(ARM_GAP_TORSO))
@pytest.mark.parametrize("make", [two_node_door, dual_beam_door])
def test_a_torso_seen_past_its_arm_in_glitch_short_pieces_still_crosses(make, case):
    site = make()
    warm_up(site)
    # The beam without the gap breaks once for a body (97 ms in `sim`, flicker bridged;
    # 90 ms in `cleanroom`); the beam with it held no body at all, so the walker went
    # uncounted. The two pieces span, across the gap, about as long as that break (98 and
    # 95 ms) and lie one lag from it at both ends: one torso.
    lay(site, *ARM_GAP_TORSO[case])
    assert directions(crossings(site)) == ["out"]


Breaks = tuple[tuple[tuple[float, float], ...], tuple[tuple[float, float], ...]]
"""(outer breaks, inner breaks), each (start, end) in seconds."""


def _mirror(breaks: Breaks) -> Breaks:
    """The same body the other way through the door: the beams' breaks swapped."""
    return breaks[1], breaks[0]


# U-turns at beams wider apart than the body is deep (our simulator at 30 cm, slow), as
# (outer breaks, inner breaks). `outside`: the outer break clears 42 ms before the inner one
# begins; the body stands in the inner beam for 1.7 s while a hand reaches back into the
# outer one; the outer beam breaks again 30 ms after the inner one clears, as the body steps
# back out. `inside`: the same turn from the other side.
WIDE_TURN: dict[str, Breaks] = {
    "outside": (((9.483, 9.985), (11.065, 11.140), (11.755, 12.228)), ((10.027, 11.725),)),
}
WIDE_TURN["inside"] = _mirror(WIDE_TURN["outside"])


# What a turn between the beams needs, and these lack: (outer breaks, inner breaks, what is
# counted). `leaf`: the independent generator at 12 cm, a door leaf swinging behind someone
# going out, 56 ms after the outer beam cleared; the body broke both beams at once (deeper
# than the spacing), so it cannot step back into the inner beam across a clear. `slow leaf`:
# the same behind a slow walker (made up), whose outer break lasts long enough for a turn, so
# that only the missing clear rules the turn out. `no time to turn` (made up, 30 cm): a
# walker in, a clear both ways, but through the inner beam in 0.25 s, too quick to stop and
# turn; the outer break 50 ms later is someone else, who turns back in it.
NO_TURN = {
    "leaf": (
        ((9.792, 9.808), (9.932, 10.226), (10.312, 10.349)),
        ((9.746, 9.769), (9.798, 9.879), (9.899, 10.076), (10.184, 10.220), (10.282, 10.443)),
        ("out",),
    ),
    "slow leaf": (((9.60, 10.30),), ((9.50, 10.20), (10.35, 10.50)), ("out",)),
    "no time to turn": (((9.70, 9.95), (10.30, 10.80)), ((10.00, 10.25),), ("in",)),
}


# Turns in the far beam, as (outer breaks, inner breaks). `far beam, outside`: our simulator
# at 30 cm, slow. The body clears the outer beam 75 ms before it breaks the inner one (it is
# thinner than the spacing), stands in the inner beam, which clears for 45 ms as it turns,
# and walks back through the outer beam: 2.7 s in the inner beam in all. `far beam, outside,
# independent`: the independent generator's `uturn-both` at 30 cm, the same turn with a 31 ms
# clear and a hand after it. `far beam, inside`: the first turn from the other side. Each was
# counted as a walker in and a walker out, 2.5 s apart.
FAR_TURN: dict[str, Breaks] = {
    "far beam, outside": (
        ((9.528, 9.971), (12.648, 12.731), (12.738, 13.204)),
        ((10.046, 11.006), (11.051, 12.716)),
    ),
    "far beam, outside, independent": (
        ((8.599, 9.143), (11.810, 12.353)),
        ((9.298, 10.524), (10.555, 11.650), (11.724, 11.768)),
    ),
}
FAR_TURN["far beam, inside"] = _mirror(FAR_TURN["far beam, outside"])


@pytest.mark.parametrize("case", [*sorted(WIDE_TURN), *sorted(FAR_TURN)])
@pytest.mark.parametrize("make", [two_node_door, dual_beam_door])
def test_a_turn_between_beams_wider_than_the_body_is_not_counted(make, case):
    site = make()
    warm_up(site)
    # `WIDE_TURN`: no beam was ever broken together with the other, so the turn's first and
    # last breaks of the near beam were read as two people: one walking on through the far
    # beam, one turning back in the near beam 30 ms behind them. One body stepping through
    # the clear both ways, and standing long enough to turn, is one person who went back.
    lay(site, *(WIDE_TURN | FAR_TURN)[case])
    assert crossings(site) == []


# Someone walking in and someone going out after them, as (outer breaks, inner breaks, what
# is counted): the edges of a turn in the far beam but for one thing each. `walking` (made up
# from the mall preset's edges): the second reaches the inner beam 47 ms after the first left
# it, as for a turn, but the inner beam was covered no longer than the two took to walk
# through it, so nobody stood there to turn. `after a stand` (made up): the first stood in
# the inner beam for 3.6 s, long enough for the next to wait at the beam and step in 45 ms
# after it cleared. `a clear between` (made up): the first stood 1.5 s in the inner beam and
# left it clear for 0.3 s, far longer than a body clears it while turning.
IN_THEN_OUT = {
    "walking": (
        ((10.000, 10.429), (10.738, 11.188)),
        ((10.258, 10.502), (10.549, 11.030)),
        ("in", "out"),
    ),
    "after a stand": (
        ((10.000, 10.400), (14.000, 14.400)),
        ((10.100, 13.700), (13.745, 14.100)),
        ("in", "out"),
    ),
    "a clear between": (
        ((10.000, 10.400), (12.200, 12.600)),
        ((10.100, 11.600), (11.900, 12.300)),
        ("in", "out"),
    ),
}


# A walker in, slow, with an arm gap on each beam (shop-day, seed 6): the hand swung ahead
# merged into the inner beam's break and made it begin 49 ms before the outer one's, while
# every other edge of the two pieces per beam reads "in" at 80-90 ms. The hand itself, 31 ms
# on the outer beam 90 ms before the inner break (`HAND`), is what tells: without it the inner
# break begins first and ends last, as for a turn from inside.
HAND_AHEAD: Breaks = (
    ((9.850, 10.066), (10.090, 10.321)),
    ((9.801, 10.146), (10.175, 10.411)),
)
HAND = (9.711, 9.742)


# Long breaks in pieces that each cross the beams the same way, as (outer breaks, inner
# breaks, what is counted). `two pieces`: our simulator's door leaf at 5 cm, someone going
# out: on each beam two body-long pieces 100 ms apart, each a walking lag (43-53 ms) earlier
# on the inner beam, and short pieces after them that made the inner break end last. `one
# piece`: our simulator at 5 cm, a slow walker going out with a hand on each side of each
# torso break; the hands on the inner beam, bridged into its break, made it contain the outer
# one. Both breaks were long enough for a stop and a turn, and each was taken for a U-turn.
IN_PIECES = {
    "two pieces": (
        ((9.495, 9.768), (9.870, 10.190), (10.193, 10.244)),
        ((9.452, 9.718), (9.820, 10.137), (10.160, 10.216), (10.245, 10.288)),
        ("out",),
    ),
    "one piece": (
        ((9.698, 9.715), (9.797, 10.301), (10.408, 10.423)),
        ((9.663, 9.695), (9.712, 10.245), (10.267, 10.315)),
        ("out",),
    ),
    "a hand ahead": (
        (HAND, *HAND_AHEAD[0]),
        HAND_AHEAD[1],
        ("in",),
    ),
    "a hand behind": (
        ((10.000, 10.250), (10.280, 10.640)),
        ((10.090, 10.340), (10.370, 10.590), (10.705, 10.730)),
        ("in",),
    ),
}


@pytest.mark.parametrize("case", [*sorted(NO_TURN), *sorted(IN_THEN_OUT), *sorted(IN_PIECES)])
@pytest.mark.parametrize("make", [two_node_door, dual_beam_door])
def test_edges_like_a_turn_without_one_still_cross(make, case):
    site = make()
    warm_up(site)
    outer_breaks, inner_breaks, counted = (NO_TURN | IN_THEN_OUT | IN_PIECES)[case]
    lay(site, outer_breaks, inner_breaks)
    assert directions(crossings(site)) == list(counted)


@pytest.mark.parametrize("make", [two_node_door, dual_beam_door])
def test_a_slow_walker_with_a_hand_merged_into_one_end_is_no_turn(make):
    site = make()
    warm_up(site)
    # The independent generator at 5 cm: going in slowly with a backpack, both breaks long
    # enough for a stop and a turn (0.59 s). A hand 28 ms behind the outer break (flicker
    # short, so bridged) moved its end past the inner one's: the first beam broken looked the
    # last cleared, a U-turn, and the walker went uncounted. Without the hand both ends lag
    # 55-60 ms the same way.
    outer, inner = site.beams()
    site.add(*outer, 9.769, 10.360)
    site.add(*outer, 10.388, 10.427)
    site.add(*inner, 9.829, 10.415)
    site.add(*inner, 10.586, 10.592)
    # A turn with the same hand: outer broken first and cleared last by 60 ms at both ends,
    # with or without the hand. Not a crossing.
    site.add(*outer, 19.700, 20.400)
    site.add(*outer, 20.425, 20.465)
    site.add(*inner, 19.760, 20.340)
    assert directions(crossings(site)) == ["in"]


def test_cart_is_one_person():
    site = two_node_door()
    warm_up(site)
    # A 1.2 m trolley plus its pusher: one long break on each beam.
    site.walk(0, 10.0, "in", depth=1.5)
    cs = crossings(site)
    assert directions(cs) == ["in"]


def test_two_people_in_contact_are_split_by_length_where_enabled():
    site = two_node_door()
    warm_up(site)
    # Two people with backpacks back to front, no gap: 2.5 times the door's usual length.
    # (Exactly twice is not split: one person with a large bag looks the same.)
    site.walk(0, 10.0, "out", depth=0.75)
    config = EngineConfig(doors={"front": DoorTuning(split=True)})
    cs = [
        e
        for e in Engine(site.doors, config).run(site.ticks())
        if isinstance(e, Crossing) and e.t > T0 - 5
    ]
    assert directions(cs) == ["out", "out"]
    assert {c.kind for c in cs} == {"split"}
    # By default the same break is one long person: length alone is not trusted.
    assert directions(crossings(site)) == ["out"]


def test_two_node_clock_skew_is_aligned():
    # +50 and -50 ppm over an hour since boot, fast walkers 5 cm apart: lag 25 ms.
    site = two_node_door(drift_o=50.0, drift_i=-50.0)
    for k in range(60):
        site.walk(0, -1200.0 + 20.0 * k, "in" if k % 3 else "out", speed=2.0, spacing=0.05)
    site.walk(0, 10.0, "in", speed=2.0, spacing=0.05)
    site.walk(0, 20.0, "out", speed=2.0, spacing=0.05)
    assert directions(crossings(site)) == ["in", "out"]


def test_duplicates_and_replays_never_double_count():
    site = two_node_door()
    warm_up(site)
    site.walk(0, 10.0, "in")
    ticks = site.ticks()
    late = [dataclasses.replace(t, rx=t.rx + 3.0) for t in ticks if t.rx > T0 + 5]
    replayed = sorted(ticks + late, key=lambda t: t.rx)
    engine = Engine(site.doors)
    events = engine.run(replayed)
    cs = [e for e in events if isinstance(e, Crossing) and e.t > T0 - 5]
    assert directions(cs) == ["in"]
    assert engine.stats.duplicates == len(late)


def test_late_backlog_of_a_disconnected_node_still_counts():
    site = two_node_door()
    warm_up(site)
    site.walk(0, 10.0, "in")
    site.walk(0, 14.0, "out")
    ticks = site.ticks()
    # The outer node was disconnected from t=8 s to t=30 s: its ticks arrive in a burst.
    moved = [
        dataclasses.replace(t, rx=T0 + 30.0 + 0.001 * k)
        for k, t in enumerate(t for t in ticks if t.node == "o1" and T0 + 8 < t.rx < T0 + 30)
    ]
    kept = [t for t in ticks if not (t.node == "o1" and T0 + 8 < t.rx < T0 + 30)]
    cs = crossings(site, sorted(kept + moved, key=lambda t: t.rx))
    assert directions(cs) == ["in", "out"]
    assert all(c.decided_at >= T0 + 30.0 for c in cs)


def _delay(ticks: list[Tick], node: str, lost: tuple[float, float], back: float) -> list[Tick]:
    """`node` lost its link from `lost[0]` to `lost[1]` (s after T0); what it buffered
    meanwhile arrives from `back` on, one tick per 5 ms (a burst over many receive times)."""
    a, b = T0 + lost[0], T0 + lost[1]
    late = [t for t in ticks if t.node == node and a < t.rx < b]
    moved = [dataclasses.replace(t, rx=T0 + back + 0.005 * k) for k, t in enumerate(late)]
    kept = [t for t in ticks if not (t.node == node and a < t.rx < b)]
    return sorted(kept + moved, key=lambda t: t.rx)


def live(site: Site, ticks: list[Tick], step: float = 0.1) -> list[Crossing]:
    """Feed ticks as a live gateway does: `advance` every `step` seconds between them."""
    engine = Engine(site.doors)
    events = []
    now = ticks[0].rx
    for tick in ticks:
        while now + step < tick.rx:
            now += step
            events.extend(engine.advance(now))
        events.extend(engine.feed(tick))
    events.extend(engine.advance(ticks[-1].rx + 200.0))
    return [e for e in events if isinstance(e, Crossing) and e.t > T0 - 5.0]


def test_a_late_backlog_is_decided_whole_not_from_its_first_ticks():
    site = two_node_door()
    warm_up(site)
    site.walk(0, 10.0, "in")
    site.walk(0, 10.6, "in")  # close behind: one episode
    # The inner beam's ticks arrive on time; the outer node's arrive 20 s late, in a burst
    # over many receive times. Its first two complete the first walker on both beams, but the
    # second walker's outer edges are still on their way: wait for the whole burst.
    cs = live(site, _delay(site.ticks(), "o1", (8.0, 30.0), 30.0))
    assert directions(cs) == ["in", "in"]


def test_an_episode_waits_for_a_node_that_went_quiet_before_its_end():
    site = two_node_door()
    warm_up(site)
    site.walk(0, 10.0, "in")
    site.walk(0, 10.7, "in", speed=1.0)  # close behind, slower: one episode
    # The outer node delivered the first walker, then lost its link until t=30 s: the second
    # walker shows on the inner beam only, while the outer beam has the first one's edges.
    cs = live(site, _delay(site.ticks(), "o1", (10.2, 30.0), 30.0))
    assert directions(cs) == ["in", "in"]
    assert max(c.decided_at for c in cs) >= T0 + 30.0


def test_a_backlog_older_than_stuck_s_is_counted_not_taken_for_stuck_beams():
    site = two_node_door()
    warm_up(site)
    for k in range(8):
        site.walk(0, 10.0 + 15.0 * k, "in" if k % 3 else "out")
    # The outer node was out of reach for almost three minutes (longer than `stuck_s`, 90 s):
    # every break in its backlog is older than that when it arrives, with its clear right
    # behind it in the burst.
    live_events = []
    engine = Engine(site.doors)
    ticks = _delay(site.ticks(), "o1", (8.0, 180.0), 180.0)
    now = ticks[0].rx
    for tick in ticks:
        while now + 0.1 < tick.rx:
            now += 0.1
            live_events.extend(engine.advance(now))
        live_events.extend(engine.feed(tick))
    live_events.extend(engine.advance(ticks[-1].rx + 400.0))
    cs = [e for e in live_events if isinstance(e, Crossing) and e.t > T0 - 5.0]
    assert directions(cs) == ["out", "in", "in", "out", "in", "in", "out", "in"]
    assert not [e for e in live_events if isinstance(e, Health) and e.kind == "beam_stuck"]


def test_a_one_beam_episode_is_released_once_the_other_node_is_past_it():
    site = two_node_door()
    warm_up(site)
    site.add("o1", 0, 10.0, 10.4)  # someone reached the outer beam and turned back
    site.walk(0, 14.0, "in")  # the next walker: the inner node delivers past the U-turn
    engine = Engine(site.doors)
    ticks = site.ticks()
    for tick in ticks:
        engine.feed(tick)
    rejected = engine.stats.rejected
    engine.advance(ticks[-1].rx + 5.0)
    # Decided (rejected: not a crossing) seconds later, not held `hold_s` for a backlog:
    # the inner node has sent newer ticks, so none of this episode can still be on the way.
    assert engine.stats.rejected > rejected


def test_reboot_restarts_sequence_and_clock():
    site = two_node_door()
    warm_up(site)
    site.walk(0, 10.0, "in")
    ticks = site.ticks()
    # The inner node rebooted at t=0: new boot id, seq from 0, node clock from 0.
    rebooted: list[Tick] = []
    seq = 0
    for t in ticks:
        if t.node == "i1" and t.rx > T0:
            rebooted.append(
                dataclasses.replace(t, boot=2, seq=seq, node_us=t.node_us - 3600 * 1_000_000)
            )
            seq += 1
        else:
            rebooted.append(t)
    engine = Engine(site.doors)
    events = engine.run(rebooted)
    cs = [e for e in events if isinstance(e, Crossing) and e.t > T0 - 5]
    assert directions(cs) == ["in"]
    assert any(isinstance(e, Health) and e.kind == "node_reboot" for e in events)
    assert engine.stats.reboots == 1


def test_lost_ticks_are_reported_as_a_gap():
    site = two_node_door()
    warm_up(site)
    ticks = [t for t in site.ticks() if not (t.node == "o1" and t.seq in (5, 6))]
    engine = Engine(site.doors)
    events = engine.run(ticks)
    assert engine.stats.seq_lost == 2
    assert any(isinstance(e, Health) and e.kind == "seq_gap" for e in events)


def test_stuck_beam_raises_health_and_invents_no_counts():
    site = two_node_door()
    warm_up(site)
    site.add("o1", 0, 0.0, 400.0)  # taped over for almost 7 minutes
    for k in range(12):
        site.add("i1", 0, 20.0 + k * 25.0, 20.2 + k * 25.0)  # people still pass the inner beam
    engine = Engine(site.doors)
    events = engine.run(site.ticks())
    cs = [e for e in events if isinstance(e, Crossing) and e.t > T0 - 5]
    kinds = [e.kind for e in events if isinstance(e, Health)]
    assert cs == []
    assert "beam_stuck" in kinds
    assert "beam_recovered" in kinds


def test_unknown_node_is_ignored_and_counted():
    site = two_node_door()
    warm_up(site)
    rogue = [Tick("rogue", 1, k, 1000 * k, 0, k % 2 == 0, T0 + k) for k in range(10)]
    ticks = sorted(site.ticks() + rogue, key=lambda t: t.rx)
    engine = Engine(site.doors)
    engine.run(ticks)
    assert engine.stats.unknown_node == 10


def test_occupancy_follows_crossings():
    site = dual_beam_door()
    for k in range(5):
        site.walk(0, 10.0 * k, "in")
    site.walk(0, 60.0, "out")
    engine = Engine(site.doors)
    events = engine.run(site.ticks())
    occ = [e for e in events if isinstance(e, DoorOccupancy)]
    assert occ[-1].entries == 5
    assert occ[-1].exits == 1
    assert occ[-1].net == 4


def test_a_snapshot_from_an_older_version_restores_new_fields_with_defaults():
    from gateway.core.engine import _rebuild

    door = Engine(two_node_door().doors)._doors[0]
    state = {f.name: getattr(door, f.name) for f in dataclasses.fields(door)}
    del state["settle"]  # a field this version added
    restored = _rebuild(type(door), state)
    assert restored.settle == float("-inf")
    assert restored.spec == door.spec


def test_replay_is_deterministic_and_snapshot_resumes_exactly():
    site = two_node_door(drift_o=30.0, drift_i=-20.0)
    for k in range(40):
        site.walk(0, 13.0 * k, "in" if k % 3 else "out")
    ticks = site.ticks()
    whole = Engine(site.doors).run(ticks)
    assert whole == Engine(site.doors).run(ticks)
    half = len(ticks) // 2
    first = Engine(site.doors)
    events = [e for t in ticks[:half] for e in first.feed(t)]
    resumed = Engine.restore(first.snapshot())
    events += [e for t in ticks[half:] for e in resumed.feed(t)]
    events += resumed.finish()
    assert events == whole


@pytest.mark.parametrize("seed", range(12))
def test_first_crossings_after_boot_wait_for_a_clock_fit(seed):
    # Right after boot: 50 ms connection intervals at unrelated phases, fast walkers 5 cm apart
    # (25 ms lag). The first crossings' own few receive times cannot order the beams; the
    # engine waits for a few more samples (without it: 14 wrong of 240 over 40 such doors).
    site = two_node_door()
    site.seed = seed
    site.nodes["o1"].phase = (seed * 0.0137) % 0.05
    site.nodes["i1"].phase = (seed * 0.0291) % 0.05
    for node in site.nodes.values():
        node.interval_s = 0.050
    expected = []
    for k in range(6):
        direction = "in" if (k + seed) % 3 else "out"
        site.walk(0, 6.0 * k, direction, speed=2.0, spacing=0.05)
        expected.append(direction)
    assert directions(crossings(site, after=-10.0)) == expected


def test_a_flickering_beam_does_not_stall_the_door():
    # A misaligned inner receiver flickers every 0.25 s for ten minutes while people pass:
    # episodes never see both beams clear for long, yet every crossing must come out in time.
    site = two_node_door()
    warm_up(site)
    for k in range(2400):
        site.add("i1", 0, 0.25 * k + 0.11, 0.25 * k + 0.11 + 0.004)
    expected = []
    for k in range(30):
        direction = "in" if k % 2 else "out"
        site.walk(0, 10.0 + 19.0 * k, direction)
        expected.append(direction)
    engine = Engine(site.doors)
    late = []
    for tick in site.ticks():
        for e in engine.feed(tick):
            if isinstance(e, Crossing) and e.t > T0 - 5:
                late.append(e.decided_at - e.t)
                assert e.direction == expected[len(late) - 1]
    assert len(late) == 30
    assert max(late) < 60.0  # decided while the flicker goes on, not at the end


def test_a_fresh_engine_continues_from_resume_points_without_a_gap():
    # The gateway restarted with an engine state it could not read (or new doors): the node
    # resends from the checkpointed point, and what came before it was counted already.
    site = dual_beam_door()
    warm_up(site)
    site.walk(0, 10.0, "in")
    ticks = site.ticks()
    resume = next(t for t in ticks if t.rx > T0 + 5)
    later = [t for t in ticks if t.seq >= resume.seq]
    engine = Engine(site.doors)
    engine.continue_from({"d1": (resume.boot, resume.seq)})
    events = []
    for tick in later:
        events.extend(engine.feed(tick))
    events.extend(engine.advance(later[-1].rx + 5.0))  # well within gap_timeout_s
    assert directions([e for e in events if isinstance(e, Crossing)]) == ["in"]
    assert not [e for e in events if isinstance(e, Health)]  # no seq gap, no reboot
    assert engine.resume_points() == {"d1": (resume.boot, ticks[-1].seq + 1)}


def test_a_late_clear_finds_its_break_across_the_other_beams_episode():
    """A slow walker on a wide door: the inner beam's edges arrive on time and, with the
    outer beam still silent, start an episode of their own; the outer node's backlog then
    brings its break (before that episode) and its clear (inside it). The clear belongs to
    that break: the beam was broken all along, so it is one episode, never a stuck beam."""
    site = two_node_door()
    warm_up(site)
    site.walk(0, 10.0, "in", speed=0.45, spacing=0.30)
    ticks = _delay(site.ticks(), "o1", (8.0, 30.0), 30.0)
    engine = Engine(site.doors)
    events = engine.run(ticks)
    cs = [e for e in events if isinstance(e, Crossing) and e.t > T0 - 5.0]
    assert directions(cs) == ["in"]
    assert not [e for e in events if isinstance(e, Health)]


def _long_breaks(
    outer: Sequence[tuple[float, float]],
    inner: Sequence[tuple[float, float]],
    outer_glitches: Sequence[tuple[float, float]] = (),
) -> tuple[Body, Body, list[Interval], list[Interval]]:
    """Each beam's pieces, and its body spanning them all (`direction_of`'s arguments);
    `outer_glitches` are pieces of the outer beam's record that `clean` left out of its body."""
    raw_o = [Interval(*p) for p in sorted((*outer, *outer_glitches))]
    raw_i = [Interval(*p) for p in inner]
    o = Interval(outer[0][0], outer[-1][1])
    i = Interval(raw_i[0].start, raw_i[-1].end)
    return Body(o, o), Body(i, i), raw_o, raw_i


# Long breaks that `direction_of` must not read as one walker, as ((outer, inner) breaks,
# outer pieces `clean` dropped). The first two: two body-long pieces per beam (made up), with
# a 30 ms blip after the inner one, so that neither the extents nor the cores agree on a
# direction and no blip trimmed off explains it (`_merged_end`). The pieces' (front, back)
# lags: `a turned piece`: (-100, +80) ms, then (+110, +120): the first piece covers the outer
# one's break on the inner beam, the edges of a turn; the others agree. `two paces`: (-100,
# -90), then (-200, -190): all one way, but no one walks on at twice the lag.
# `no hand`: `HAND_AHEAD` without its hand. `a hand too far ahead`: with one 250 ms ahead of
# the inner break, not a walking lag. `one piece, a hand ahead`: one piece per beam, so only
# one edge sets the pace the hand must agree with. `standing, a hand ahead`: the same shape
# over 1.2 s: too long for a walker, the pieces of someone swaying in the door can line up so
# by chance.
NOT_ONE_WALK: dict[str, tuple[Breaks, tuple[tuple[float, float], ...]]] = {
    "a turned piece": (
        (((0.10, 0.60), (0.75, 1.30)), ((0.00, 0.68), (0.86, 1.42), (1.50, 1.53))),
        (),
    ),
    "two paces": ((((0.30, 0.80), (1.00, 1.50)), ((0.20, 0.71), (0.80, 1.31), (1.55, 1.58))), ()),
    "no hand": (HAND_AHEAD, ()),
    "a hand too far ahead": (HAND_AHEAD, ((9.551, 9.582),)),
    "one piece, a hand ahead": ((((10.00, 10.50),), ((9.95, 10.59),)), ((9.86, 9.89),)),
    "standing, a hand ahead": (
        (((10.20, 10.80), (10.85, 11.40)), ((10.15, 10.88), (10.93, 11.49))),
        ((10.05, 10.08),),
    ),
}


@pytest.mark.parametrize("case", sorted(NOT_ONE_WALK))
def test_long_breaks_in_pieces_cross_only_one_way_at_one_pace(case):
    (outer, inner), glitches = NOT_ONE_WALK[case]
    o, i, raw_o, raw_i = _long_breaks(outer, inner, glitches)
    assert direction_of(o, i, raw_o, raw_i, 0.12) is None
