"""The one-episode explainer, and the engine's episodes that `count_errors` prints for it."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from benchmarks.count_errors import classify
from benchmarks.episode import EpisodeError, explain, limits, main, parse, token
from benchmarks.robustness import Job, _sim
from gateway.core.decide import Limits, decide
from gateway.core.tuning import DoorTuning
from gateway.protocol.trace import Truth

# A walker with a bag ahead of it and an arm gap on each beam (the independent generator,
# 5 cm, slow): the engine reads two people passing under one outer break.
SHARED = "Ov-214 Iv-153 O^-110 Ov-68 I^+51 Iv+85 O^+211 I^+284"


def test_the_explanation_ends_with_the_engines_own_decision() -> None:
    edges = parse(SHARED)
    tuning = Limits.of(DoorTuning())
    lines = explain(edges, tuning, None, 0.094)
    outcome = decide(edges, tuning, None, 0.094)
    tail = lines[lines.index(f"decision ({outcome.rejected} rejected):") + 1 :]
    assert tail == [
        f"  {c.direction} {c.kind} at {c.t * 1000:+.0f} ms, confidence {c.confidence:g}"
        for c in outcome.crossings
    ]
    assert "  outer 0 with inner 0-1: two people, one break shared (passing or one behind)" in (
        lines
    )
    assert "  outer 0: -68..+211 (279) [extent -214..+211]" in lines


def test_a_single_walker_shows_both_readings() -> None:
    lines = explain(parse("Ov-100 Iv-60 O^+80 I^+120"), Limits.of(DoorTuning()))
    assert any("one person; one-walker scoring:" in line for line in lines)
    assert lines[-1] == "  in single at +10 ms, confidence 1"


@pytest.mark.parametrize(
    ("text", "named"),
    [("Ov-100 X^+3", "edge 2 'X^+3'"), ("Ov-100 Iv", "edge 2 'Iv'"), ("", "no edges")],
)
def test_an_unreadable_edge_is_named(text: str, named: str) -> None:
    with pytest.raises(EpisodeError, match=re.escape(named)):
        parse(text)


def test_the_diagnostics_write_edges_as_the_explainer_reads_them() -> None:
    written = " ".join(token(r, b, t) for t, r, b in [(-0.2144, 0, True), (0.051, 1, False)])
    assert written == "Ov-214 I^+51"
    assert parse(written) == [(-0.214, 0, True), (0.051, 1, False)]


def test_a_tuning_override_must_name_a_field_and_a_valid_value() -> None:
    assert limits(["passing=false"]).passing is False
    with pytest.raises(EpisodeError, match="'wide=1'"):
        limits(["wide=1"])
    with pytest.raises(EpisodeError, match="passing"):
        limits(["passing=maybe"])


def test_the_command_line_prints_the_explanation(capsys: pytest.CaptureFixture[str]) -> None:
    main([SHARED, "--crowd", "0.094"])
    out = capsys.readouterr().out
    assert "alignment:" in out
    assert "out passing at -9 ms" in out
    with pytest.raises(SystemExit):
        main(["Ov-100 Q^+3"])
    assert "edge 2 'Q^+3'" in capsys.readouterr().err


def test_an_error_example_replays_as_the_engine_decided_it() -> None:
    """The engine's line under a `count_errors` example holds what `decide` needs to count
    again exactly what the engine counted there."""
    job = Job("single", "sim", 0.12, 0.35, False, 0.35, "walk", 1, 3.0)
    header, records = _sim(job, hostile=False)
    k = next(n for n, r in enumerate(records) if isinstance(r, Truth) and r.direction == "in")
    truth = records[k]
    assert isinstance(truth, Truth)
    records[k] = replace(truth, direction="out")  # a flip to show: the engine counted "in"
    cell = classify(job, header, records, keep=1)
    name, text = cell.examples[0]
    assert name.startswith("flipped")
    line = text.splitlines()[1]
    m = re.search(
        r"counted \[(.*)\]:(?: --typical (\S+))? --crowd (\S+)( --loose-hands)?"
        r"(?: --walk-lag (\S+))? \"(.*)\"$",
        line,
    )
    assert m is not None, line
    counted, typical, crowd, loose, walk_lag, edges = m.groups()
    outcome = decide(
        parse(edges),
        Limits.of(DoorTuning()),
        None if typical is None else float(typical),
        float(crowd),
        loose is not None,
        None if walk_lag is None else float(walk_lag) / 1000,
    )
    replayed = ", ".join(f"{c.direction} {c.kind} {c.t * 1000:+.0f}" for c in outcome.crossings)
    assert replayed == counted
    assert counted.startswith("in ")


def test_a_door_with_loose_blips_is_said_and_decided_so() -> None:
    # A hand ahead on the inner beam only, a bag behind on the outer only; torsos going in.
    edges = parse("Iv-70 I^-30 Ov+0 Iv+30 O^+200 I^+230 Ov+240 O^+280")
    tight = explain(edges, Limits.of(DoorTuning()))
    loose = explain(edges, Limits.of(DoorTuning()), loose_hands=True)
    assert "blips loose" in loose[0]
    assert "blips loose" not in tight[0]
    assert tight[-1].startswith("  out single")
    assert loose[-1].startswith("  in single")
    assert "one-walker scoring: in;" in "\n".join(loose)


def test_a_doors_walking_lag_is_said_and_lets_the_medians_decide() -> None:
    # tests/core/test_hand_model.py: arm gaps and a bag make the edges say "out"; half the
    # inner beam's blocked time passes 38 ms after half the outer's: "in".
    edges = parse("Ov-144 Iv-144 I^-100 Iv-91 I^-61 Iv-51 I^-17 Iv+25 O^+79 I^+134 Ov+170 O^+209")
    tuning = Limits.of(DoorTuning())
    learned = explain(edges, tuning, 3.455, 0.098, loose_hands=True, walk_lag=0.067)
    new = explain(edges, tuning, 3.455, 0.098, loose_hands=True)
    assert "walking lag 67 ms" in learned[0]
    assert "walking lag" not in new[0]
    assert (learned[-1][:6], new[-1][:7]) == ("  in s", "  out s")
