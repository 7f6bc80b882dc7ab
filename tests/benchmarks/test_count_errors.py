"""The error-class diagnostic of the robustness sweep's cells."""

from __future__ import annotations

from dataclasses import replace

from benchmarks.count_errors import classify
from benchmarks.robustness import Job, _score, _sim
from gateway.protocol.trace import Record, TraceHeader, Truth


def _cell() -> tuple[Job, TraceHeader, list[Record]]:
    job = Job("single", "sim", 0.12, 0.35, False, 0.35, "walk", 1, 3.0)
    header, records = _sim(job, hostile=False)
    return job, header, records


def test_classes_account_for_every_error_and_agree_with_the_sweep() -> None:
    job, header, records = _cell()
    cell = classify(job, header, records, keep=1)
    sweep = _score(job, "ideal", header, records)
    assert (cell.truth, cell.matched, cell.denom) == (sweep.truth, sweep.matched, sweep.denom)
    assert cell.phantoms == sweep.phantoms
    # a flip or a timing error is one miss and one extra; every other class one of either
    paired = sum(n for name, n in cell.classes.items() if name.startswith(("flipped", "timing")))
    assert sum(cell.classes.values()) == cell.truth - cell.matched + sweep.extras - paired


def test_a_crossing_counted_the_wrong_way_is_a_flip() -> None:
    job, header, records = _cell()
    before = classify(job, header, records, keep=0).classes
    k = next(n for n, r in enumerate(records) if isinstance(r, Truth) and r.direction == "in")
    truth = records[k]
    assert isinstance(truth, Truth)
    records[k] = replace(truth, direction="out")  # the truth says out, the engine counts in
    after = classify(job, header, records, keep=1)
    flips = sum(n for name, n in after.classes.items() if name.startswith("flipped"))
    assert flips == sum(n for name, n in before.items() if name.startswith("flipped")) + 1
    assert after.examples[0][0].startswith("flipped")
