"""The robustness sweep and the doorway hazards it turns on, in both generators."""

from __future__ import annotations

from dataclasses import replace

from benchmarks import cleanroom
from benchmarks.robustness import main, sweep
from gateway.protocol.trace import Tick
from sensor_sim.generator import generate
from sensor_sim.scenarios import Faults, Hazards, Mix, Scenario, Traffic


def _breaks(scenario: Scenario) -> int:
    _, records = generate(scenario, 240.0, 3)
    return sum(1 for r in records if isinstance(r, Tick) and r.broken)


def _single(hz: Hazards) -> Scenario:
    return Scenario(
        "t",
        "single file",
        Traffic(rate_per_min=6.0, mix=Mix(single=1.0)),
        faults=Faults(),
        hazards=hz,
    )


def test_sim_hazards_are_independent_knobs() -> None:
    base = _breaks(_single(Hazards()))
    # blips add breaks; nothing else moves: the same people, the same torso breaks
    assert _breaks(_single(Hazards(blip_ahead_p=1.0, blip_ahead_s=(0.3, 0.4)))) > base
    assert _breaks(_single(Hazards(body_gap_p=1.0, body_gap_s=(0.05, 0.06)))) > base
    assert _breaks(_single(Hazards(flicker_per_hour=120.0))) > base
    _, a = generate(_single(Hazards()), 240.0, 3)
    _, b = generate(_single(Hazards(child_share=0.0)), 240.0, 3)
    assert [r for r in a if isinstance(r, Tick)] == [r for r in b if isinstance(r, Tick)]


def test_cleanroom_blips_per_beam() -> None:
    plain = cleanroom.generate("cr-single", 300.0, 2)
    blips = cleanroom.generate(
        "cr-single", 300.0, 2, overrides={"p_blip_ahead": 1.0, "blip_ahead_s": (0.3, 0.4)}
    )
    assert plain.truth == blips.truth
    for door, beams in blips.beams.items():
        for beam, broken in beams.items():
            assert len(broken) > len(plain.beams[door][beam])


def test_sweep_on_a_tiny_grid() -> None:
    summaries = sweep([1], 1.0, workers=1, small=True)
    names = [s.name for s in summaries]
    assert names == ["single file", "busy", "doorway hazards", "hostile link", "hostile - ideal"]
    for s in summaries[:4]:
        assert s.cells > 0
        assert s.crossings > 0
        assert 0.0 <= s.worst <= 1.0
        assert 0.0 <= s.mean <= 1.0
        if s.name != "hostile link":  # there: the cell that loses most to the link
            assert s.worst <= s.mean
        assert 0 <= s.phantoms <= s.extras
        assert s.worst_cell
    # issue 12's targets: every cell below one is counted, the worst among them
    for s in summaries[:2]:
        assert s.target is not None
        assert (s.below > 0) == (s.worst < s.target)
        assert 0 <= s.below <= s.cells
    assert summaries[2].target is None


def test_command_prints_worst_cells(capsys) -> None:  # type: ignore[no-untyped-def]
    main(["--small", "--seeds", "1", "--minutes", "1", "--workers", "1"])
    out = capsys.readouterr().out
    assert "robustness sweep" in out
    assert "single file" in out
    assert "worst" in out
    assert "phantoms" in out
    assert "below 0.995:" in out
    assert replace(Hazards(), blip_same=True).any
