"""Whether a door's blips cross both beams: the table `benchmarks.hands` reads from a trace."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.hands import HAND_MIN, Table, _cell, main, tables
from benchmarks.robustness import Job, _cleanroom
from gateway.core.decide import Interval, hand_ends


def test_a_blip_counts_at_the_end_of_the_torso_it_is_near() -> None:
    o, i = Interval(0.0, 0.4), Interval(0.1, 0.5)
    raw_o = [Interval(-0.08, -0.05), o, Interval(0.5, 0.53)]  # a hand ahead, a bag behind
    raw_i = [Interval(0.02, 0.05), i, Interval(0.9, 0.93)]  # a hand ahead; a glitch far behind
    assert hand_ends(o, i, raw_o, raw_i, 0.12) == [(True, True), (True, False)]
    # A body-long piece is not a blip: a second person, not a hand.
    assert hand_ends(o, i, [Interval(-0.4, -0.05), o], [i], 0.12) == [(False, False)] * 2


def test_the_table_reads_blips_that_come_together_and_blips_that_do_not() -> None:
    together = Table([60, 5, 5, 30])
    assert together.phi() == pytest.approx((60 * 30 - 25) / (65 * 35), abs=1e-9)
    assert together.reading().startswith("together")
    odds = together.odds()
    assert odds is not None
    assert odds[1] > 1.0
    apart = Table([40, 20, 20, 10])
    assert apart.phi() == pytest.approx(0.0, abs=1e-9)
    assert apart.reading().startswith("independent")
    assert Table([90, 3, 2, 2]).reading().startswith("too few")  # 7 ends with a blip
    assert Table([90, 0, 0, 0]).phi() is None


@pytest.mark.parametrize(("same", "reading"), [(True, "together"), (False, "independent")])
def test_the_independent_generators_blip_order_knob_shows_in_the_reading(
    same: bool, reading: str
) -> None:
    # Issue 12's blips drawn per beam, or one draw for both beams: 30 min of single file.
    job = Job("single", "cleanroom", 0.12, 0.7, same, 0.35, "walk", 1, 30.0)
    found = tables(*_cleanroom(job, False))
    (table,) = found.values()
    assert table.crossings > 100
    assert table.reading().startswith(reading)


def test_bad_sources_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--cell", "cleanroom 12 0.7 sideways 0.35 walk"])
    assert "--cell 'cleanroom 12 0.7 sideways 0.35 walk': expected" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tmp_path / "missing.jsonl")])
    assert "missing.jsonl" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--scenario", "no-such-preset"])
    assert "no-such-preset" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([])
    assert "give a trace file" in capsys.readouterr().err


def test_a_recorded_trace_is_read_like_a_generated_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks import cleanroom

    path = tmp_path / "door.jsonl"
    cleanroom.write(cleanroom.generate("cr-single", 600.0, 1), path)
    main([str(path)])
    out = capsys.readouterr().out
    assert str(path) in out
    assert "front" in out
    assert _cell("sim 12 0.35 same 0 walk", 1.0, 1)[0].doors


def test_the_tool_reads_a_door_as_the_engines_door_does() -> None:
    # Two computations of phi: the engine's closed form (compiled, no numpy) and the tool's
    # numpy correlation. On the same ends they must agree on "loose".
    import random

    from gateway.core.engine import HAND_LOOSE_PHI, HAND_SAMPLES, Engine
    from tests.support.enginekit import two_node_door

    rng = random.Random(3)
    for _ in range(200):
        p_outer, p_inner, tie = rng.random(), rng.random(), rng.random()
        ends = []
        for _ in range(rng.randrange(2, HAND_SAMPLES, 2)):
            a = rng.random() < p_outer
            ends.append((a, a if rng.random() < tie else rng.random() < p_inner))
        door = Engine(two_node_door().doors)._doors[0]
        door.learn_hands(ends)
        table = Table()
        for a, b in ends:
            table.add(a, b)
        phi = table.phi()
        tool_loose = table.blip_ends >= HAND_MIN and phi is not None and phi < HAND_LOOSE_PHI
        assert door.loose_hands is tool_loose, (table.n, phi)
