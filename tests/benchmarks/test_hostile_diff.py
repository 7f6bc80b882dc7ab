"""The hostile-link diagnostic: the same figures as the sweep, and every difference classified."""

from __future__ import annotations

from benchmarks.hostile_diff import MAX_FIT_MS, diff_job
from benchmarks.robustness import Job, _score, _sim


def test_figures_agree_with_the_sweep_and_edges_pair_across_the_links() -> None:
    job = Job("hostile", "sim", 0.05, 0.35, False, 0.35, "brisk", 2, 3.0)
    cell = diff_job((job, 1))
    ideal = _score(job, "ideal", *_sim(job, hostile=False))
    hostile = _score(job, "hostile", *_sim(job, hostile=True))
    assert (cell.ideal_matched, cell.ideal_denom) == (ideal.matched, ideal.denom)
    assert (cell.hostile_matched, cell.hostile_denom) == (hostile.matched, hostile.denom)
    assert cell.same_truth
    # the two links sample the same bodies on grids at most a sample period apart
    assert cell.fit_ms <= MAX_FIT_MS
    assert cell.unfitted == 0
    # every difference between the links is classified, with its edges to read
    assert all(": " in name for name in cell.classes)
    assert len(cell.examples) <= len(cell.classes)
