"""Calibrated confidence: a monotone map of the raw score into 0..1, per crossing kind."""

from __future__ import annotations

import itertools

import pytest

from gateway.core import confidence
from gateway.core.confidence_fit import FIT
from gateway.evaluation.scoring import Counted, reliability
from gateway.protocol.trace import Truth


@pytest.mark.parametrize("kind", sorted(FIT))
def test_calibration_is_monotone_and_bounded(kind: str) -> None:
    raws = [k / 100 for k in range(101)]
    out = [confidence.calibrated(kind, r) for r in raws]
    assert all(0.0 <= x <= 1.0 for x in out)
    assert all(a <= b for a, b in itertools.pairwise(out))


def test_unknown_kind_uses_the_pooled_fit() -> None:
    assert "*" in FIT
    assert confidence.calibrated("no-such-kind", 0.9) == confidence.calibrated("*", 0.9)


def test_reliability_bins_match_like_the_scorer() -> None:
    truth = [Truth("d", 10.0, "in", "single"), Truth("d", 20.0, "out", "single")]
    counted = [
        (Counted("d", "in", 10.3), 0.97),  # right
        (Counted("d", "in", 12.0), 0.55),  # nothing within 1 s
        (Counted("d", "in", 20.0), 0.97),  # wrong direction
        (Counted("d", "out", 20.9), 0.91),  # right
    ]
    bins = {f"{b.lo:g}": (b.crossings, b.right) for b in reliability(truth, counted)}
    assert bins["0.95"] == (2, 1)
    assert bins["0.9"] == (1, 1)
    assert bins["0.5"] == (1, 0)
    assert sum(n for n, _ in bins.values()) == 4
