"""Whether an engine change is more than the traces' noise: paired count_errors runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.compare import CompareError, compare, load, main


def _write(path: Path, errors: dict[str, list[int]], cls: str = "single") -> Path:
    rows = [
        {
            "cls": cls,
            "cell": cell,
            "matched": 100,
            "denom": 100,
            "classes": {"flipped (single)": sum(per_seed)},
            "seeds": {str(k + 1): n for k, n in enumerate(per_seed)},
        }
        for cell, per_seed in errors.items()
    ]
    path.write_text(json.dumps(rows))
    return path


def test_a_change_that_moves_most_traces_one_way_is_called_and_noise_is_not(
    tmp_path: Path,
) -> None:
    cells = [f"cell {k}" for k in range(12)]
    before = load([_write(tmp_path / "a.json", {c: [2, 2] for c in cells})])
    better = load([_write(tmp_path / "b.json", {c: [1, 2] for c in cells})])
    lines = compare(before, better)
    assert lines[0].startswith("24 traces (12 cells): errors 48 -> 36 (-12); 12 traces better, 0")
    assert "better: more traces moved one way than chance allows" in lines[1]
    assert "-12 flipped (single)" in lines[2]
    mixed = {c: ([1, 2] if k % 2 else [3, 2]) for k, c in enumerate(cells)}
    noise = compare(before, load([_write(tmp_path / "c.json", mixed)]))
    assert "(+0); 6 traces better, 6 worse" in noise[0]
    assert "no evidence either way" in noise[1]
    same = compare(before, before)
    assert same[-1] == "no trace moved: the change made no difference here"


def test_runs_that_cannot_be_paired_or_read_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _write(tmp_path / "a.json", {"x": [1, 1]})
    b = _write(tmp_path / "b.json", {"x": [1]})
    with pytest.raises(CompareError, match=r"different traces .* .single: x. seed 2"):
        compare(load([a]), load([b]))
    old = tmp_path / "old.json"
    old.write_text(json.dumps([{"cell": "x", "classes": {}}]))
    with pytest.raises(CompareError, match="row 1 lacks cls, cell, classes or seeds"):
        load([old])
    with pytest.raises(SystemExit):
        main([str(tmp_path / "missing.json"), "--after", str(a)])
    assert "missing.json" in capsys.readouterr().err
    busy = _write(tmp_path / "busy.json", {"x": [1, 1]}, cls="busy")
    assert len(load([a, busy]).classes) == 2  # one cell name in two classes: two cells


def test_count_errors_writes_what_compare_reads(tmp_path: Path) -> None:
    from benchmarks.count_errors import main as count_errors

    path = tmp_path / "hazard.json"
    args = ["--cls", "hazard", "--seeds", "1", "2", "--minutes", "0.5", "--workers", "1"]
    count_errors([*args, "--worst", "0", "--json", str(path)])
    run = load([path])
    assert len(run.traces) == 2 * len(run.classes) == 72
    assert all(name.startswith("hazard: ") for name in run.classes)
    assert compare(run, run)[-1] == "no trace moved: the change made no difference here"
