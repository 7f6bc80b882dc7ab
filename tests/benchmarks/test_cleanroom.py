"""The clean-room trace generator: deterministic, valid doorcount-trace v1, sane truth."""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise
from pathlib import Path

import pytest

from benchmarks.cleanroom import SCENARIOS, generate, main, parse_overrides, write
from gateway.protocol.trace import Tick, Truth, open_trace


def _write(tmp_path: Path, scenario: str, seed: int, *extra: str) -> Path:
    out = tmp_path / f"{scenario}-{seed}.jsonl"
    args = ["--scenario", scenario, "--duration", "240", "--seed", str(seed), "-o", str(out)]
    assert main([*args, *extra]) == 0
    return out


def test_deterministic_per_seed(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = _write(tmp_path / "a", "cr-mixed", 7)
    b = _write(tmp_path / "b", "cr-mixed", 7)
    c = _write(tmp_path, "cr-mixed", 8)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_valid_trace_format(tmp_path: Path, scenario: str) -> None:
    path = _write(tmp_path, scenario, 1, "--doors", "2")
    ticks: list[Tick] = []
    truth: list[Truth] = []
    with open_trace(path) as reader:
        beams = {(d.outer.node, d.outer.beam) for d in reader.header.doors}
        beams |= {(d.inner.node, d.inner.beam) for d in reader.header.doors}
        assert len(reader.header.doors) == 2
        for rec in reader:
            if isinstance(rec, Tick):
                ticks.append(rec)
            elif isinstance(rec, Truth):
                truth.append(rec)
    assert ticks
    assert truth
    assert all((t.node, t.beam) in beams for t in ticks)
    rx = [t.rx for t in ticks]
    assert rx == sorted(rx), "tick lines are in receive order"
    # per node and boot: a repeated seq is an exact duplicate; edges alternate per beam
    seen: dict[tuple[str, int, int], Tick] = {}
    for t in ticks:
        key = (t.node, t.boot, t.seq)
        if key in seen:
            assert seen[key] == Tick(
                t.node, t.boot, t.seq, t.node_us, t.beam, t.broken, seen[key].rx
            )
        else:
            seen[key] = t
    by_boot: dict[tuple[str, int], list[Tick]] = defaultdict(list)
    for key, t in sorted(seen.items()):
        by_boot[key[:2]].append(t)
    for run in by_boot.values():
        assert [t.seq for t in run] == list(range(run[0].seq, run[0].seq + len(run)))
        assert all(a.node_us < b.node_us for a, b in pairwise(run))
        state: dict[int, bool] = {}
        for t in run:
            assert state.get(t.beam, False) != t.broken
            state[t.beam] = t.broken


def test_ideal_delivery_has_no_duplicates_or_gaps(tmp_path: Path) -> None:
    path = _write(tmp_path, "cr-skew", 2, "--ideal-ble")
    keys: list[tuple[str, int, int]] = []
    with open_trace(path) as reader:
        keys = [(t.node, t.boot, t.seq) for t in reader if isinstance(t, Tick)]
    assert len(keys) == len(set(keys))
    per: dict[tuple[str, int], list[int]] = defaultdict(list)
    for node, boot, seq in keys:
        per[(node, boot)].append(seq)
    for seqs in per.values():
        assert sorted(seqs) == list(range(len(seqs)))


@pytest.mark.parametrize("scenario", ["cr-busy", "cr-mixed"])
def test_truth_has_beam_breaks_around_it(scenario: str) -> None:
    trace = generate(scenario, 600.0, 3)
    assert trace.truth
    for door, t, direction, _ in trace.truth:
        if direction == "none":
            continue
        for beam in ("outer", "inner"):
            assert any(a - 1.0 < t < b + 1.0 for a, b in trace.beams[door][beam]), (t, beam)
    for _, p in trace.passages["front"]:
        if p.direction == "none" or p.kind.startswith("pass"):
            continue
        # in the walker's own frame the first beam met is broken first and cleared first
        first, second = p.seen["outer"], p.seen["inner"]
        assert first
        assert second
        assert first[0][0] < second[0][0]
        assert first[-1][1] < second[-1][1]
        assert p.truth_t is not None
        assert first[0][0] < p.truth_t < second[-1][1]


def test_tailgaters_keep_body_gap() -> None:
    trace = generate("cr-busy", 900.0, 5)
    walkers = [
        (shift, p)
        for shift, p in trace.passages["front"]
        if p.kind.split("+")[0] in ("single", "tailgate")
    ]
    tight = 0
    for (s1, p1), (s2, p2) in pairwise(walkers):
        if p1.sign != p2.sign:
            continue
        for beam in ("outer", "inner"):
            gap = (p2.body[beam][0][0] + s2) - (p1.body[beam][-1][1] + s1)
            assert gap >= 0.15 - 1e-6
            tight += gap < 0.5
    assert tight > 10, "the busy scenario has real tailgating"


def test_write_counts(tmp_path: Path) -> None:
    trace = generate("cr-single", 120.0, 1)
    n_ticks, n_truth = write(trace, tmp_path / "t.jsonl")
    lines = (tmp_path / "t.jsonl").read_text().splitlines()
    assert len(lines) == 1 + n_ticks + n_truth


def test_overrides_change_one_factor_and_keep_the_rest() -> None:
    assert parse_overrides(["disconnects_per_hour=6", "disconnect_s=(150, 150)"]) == {
        "disconnects_per_hour": 6.0,
        "disconnect_s": (150.0, 150.0),
    }
    base = generate("cr-single", 120.0, 3)
    ideal = generate("cr-single", 120.0, 3, overrides={"glitch_per_min": 0.0})
    # Same people at the same times: only the glitches are gone.
    assert base.truth == ideal.truth
    assert len(ideal.ticks) < len(base.ticks)


@pytest.mark.parametrize(
    ("item", "named"),
    [
        ("pace=2", "FIELD=VALUE"),
        ("speed=2", "takes 2 numbers"),
        ("disconnect_s=5", "takes 2 numbers"),
        ("dual=1", "True or False"),
        ("p_cart='many'", "is a number"),
        ("p_cart=", "not a Python literal"),
    ],
)
def test_a_bad_override_is_named(item: str, named: str) -> None:
    with pytest.raises((ValueError, TypeError), match=named):
        parse_overrides([item])
