"""Doorway capacity: one party at a time in a narrow door, passing (labelled) in a wide one."""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise

import numpy as np
import pytest

from gateway.errors import ConfigError
from sensor_sim.generator import generate
from sensor_sim.physics import DT
from sensor_sim.scenarios import PRESETS, Doors, Mix, preset
from sensor_sim.traffic import NARROW_DOOR_M, QUEUE_STOP_S, DoorTraffic, Geometry, Person
from tests.support.sim import NOON, Party, beam_windows, plan, truths

NARROW = Geometry(0.10, 0.01, -0.01, 0.9)
WIDE = Geometry(0.10, 0.01, -0.01, 2.0)


def _windows(parties: list[Party], geo: Geometry) -> list[tuple[float, float, int, Person]]:
    """Every person's first-to-last break on either beam, tagged with their party's index."""
    out = []
    for i, party in enumerate(parties):
        for p in party:
            w = beam_windows(p, geo)
            if w is not None:
                out.append((*w, i, p))
    return sorted(out, key=lambda w: w[0])


@pytest.mark.parametrize("name", ["busy", "hesitant", "carts"])
def test_a_narrow_door_holds_one_party_at_a_time(name: str) -> None:
    parties = plan(preset(name).traffic, NARROW, 1200, seed=3)
    assert len(parties) > 60
    windows = _windows(parties, NARROW)
    latest_end, latest_party = -np.inf, -1
    for lo, hi, i, p in windows:
        # Anything of an earlier party (hands, bags, carts, a lingerer) has left both beams.
        assert lo > latest_end or i == latest_party, (p.kind, lo, latest_end)
        if hi > latest_end:
            latest_end, latest_party = hi, i
    directions = {p.traj.sign for party in parties for p in party}
    assert directions == {1, -1}, "both directions share the door"


def test_nobody_is_in_the_beams_with_a_lingerer_in_a_narrow_door() -> None:
    traffic = replace(preset("busy").traffic, mix=Mix(single=0.5, tailgate=0.2, linger=0.3))
    parties = plan(traffic, NARROW, 1200, seed=4)
    windows = _windows(parties, NARROW)
    lingerers = [w for w in windows if w[3].kind == "linger"]
    assert len(lingerers) > 10
    for lo, hi, i, _ in lingerers:
        others = [w for w in windows if w[2] != i and w[0] < hi and lo < w[1]]
        assert others == []


def test_queued_arrivals_are_delayed_not_dropped() -> None:
    """Every arrival crosses; who had to wait stood still just outside the beams."""
    traffic = replace(
        preset("hesitant").traffic, count=300, mix=Mix(single=0.5, uturn=0.2, linger=0.3)
    )
    arrivals = DoorTraffic(np.random.default_rng(5), traffic, NARROW, 5400).arrivals(None)
    parties = plan(traffic, NARROW, 5400, seed=5)
    assert len(parties) == len(arrivals) == 300
    delays = [party[0].truth_t - when for (when, _), party in zip(arrivals, parties, strict=True)]
    assert min(delays) > -1e-6
    waited = [
        party[0]
        for d, party in zip(delays, parties, strict=True)
        if d > QUEUE_STOP_S + 0.5 and party[0].kind == "single"
    ]
    assert len(waited) > 10
    for p in waited:
        v = np.diff(p.traj.p[:200]) / DT
        assert np.all(np.abs(v) < 1e-9), "a queued walker starts from a standstill"
        first, _ = beam_windows(p, NARROW) or (np.inf, np.inf)
        assert first > p.traj.t0 + 0.2, "the wait spot is clear of the beams"
    # The same through the whole generator: one truth line per arrival.
    sc = replace(preset("hesitant"), traffic=traffic)
    assert len(truths(generate(sc, 5400, 5, NOON)[1])) == 300


def test_a_follower_keeps_the_gap_at_both_beams() -> None:
    traffic = replace(preset("busy").traffic, mix=Mix(single=0.0, tailgate=1.0))
    parties = plan(traffic, NARROW, 900, seed=6)
    followers = 0
    for party in parties:
        for lead, f in pairwise(party):
            for x in (-NARROW.spacing / 2, NARROW.spacing / 2):
                back = _cross(lead, x + lead.body.depth / 2 + lead.body.backpack)
                front = _cross(f, x - f.body.depth / 2)
                assert front - back >= 0.15 - 2 * DT
            followers += 1
    assert followers > 100


def _cross(p: Person, progress: float) -> float:
    return p.traj.t0 + int(np.argmax(p.traj.p >= progress)) * DT


def test_people_pass_each_other_in_a_wide_door_and_are_labelled() -> None:
    parties = plan(preset("opposite").traffic, WIDE, 1200, seed=7)
    windows = _windows(parties, WIDE)
    passing = 0
    for a, b in pairwise(windows):
        if b[0] < a[1] and a[3].traj.sign != b[3].traj.sign:
            assert a[3].kind == b[3].kind == "passing"
            passing += 1
    assert passing > 20
    # Same-direction people never overlap, even in a wide door.
    for sign in (1, -1):
        same = [w for w in windows if w[3].traj.sign == sign and not w[3].stops]
        for a, b in pairwise(same):
            assert b[0] > a[1] or a[2] == b[2]


def test_a_wide_door_lets_people_pass_a_lingerer() -> None:
    traffic = replace(preset("busy").traffic, mix=Mix(single=0.6, linger=0.4))
    parties = plan(traffic, WIDE, 1200, seed=8)
    windows = _windows(parties, WIDE)
    shared = [
        (a, b)
        for a in windows
        for b in windows
        if a[3].stops and b[2] != a[2] and b[0] < a[1] and a[0] < b[1]
    ]
    assert shared
    assert all(a[3].kind == b[3].kind == "passing" for a, b in shared)


def test_presets_have_the_doors_their_traffic_needs() -> None:
    for name in ("opposite", "abreast"):
        assert PRESETS[name].doors.width_m[0] >= NARROW_DOOR_M
    for name in ("clean", "single-file", "busy", "carts", "hesitant", "narrow", "flaky-ble"):
        assert PRESETS[name].doors.width_m[1] < NARROW_DOOR_M
        assert PRESETS[name].doors.wide_share == 0
    header, _ = generate("mall", 60, 1, NOON)
    doors = header.extra["sim"]["doors"]
    assert {d["narrow"] for d in doors} == {True, False}
    for d in doors:
        assert d["narrow"] == (d["width_m"] < NARROW_DOOR_M)
        assert 0.8 <= d["width_m"] <= 2.4


def test_an_abreast_pair_that_does_not_fit_walks_in_file() -> None:
    traffic = replace(preset("abreast").traffic, mix=Mix(single=0.0, abreast=1.0))
    tight = plan(traffic, Geometry(0.10, 0.0, 0.0, 0.7), 600, seed=9)
    assert {p.kind for party in tight for p in party} == {"tailgate"}
    roomy = plan(traffic, WIDE, 600, seed=9)
    assert {p.kind for party in roomy for p in party} <= {"abreast", "abreast-merged", "passing"}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"width_m": (1.2, 0.9)}, "width_m"),
        ({"width_m": (0.3, 0.9)}, "width_m"),
        ({"wide_width_m": (1.6, 9.0)}, "wide_width_m"),
        ({"wide_share": 1.5}, "wide_share"),
    ],
)
def test_bad_door_widths_are_config_errors(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        Doors(**kwargs)  # type: ignore[arg-type]
