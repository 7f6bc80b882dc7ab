"""Calibrated confidence: the share of crossings like this one that are right.

The decision gives each crossing a raw score (how well its edges fit one walker: lag and
duration agreement, groups, turns; see `decide.py`) and a kind (single, sway, linger,
passing, ...). A raw score is not a probability; `calibrated` maps it, per kind, through an
isotonic (monotone) fit of "was it right" on traces of both generators, so that a stated 0.9
means about 9 in 10 right on such traffic. The fit lives in `confidence_fit.py`, written by
`python -m scripts.fit_confidence`, which also prints the reliability on held-out seeds.
"""

from __future__ import annotations

from bisect import bisect_right

from gateway.core.confidence_fit import FIT


def calibrated(kind: str, raw: float) -> float:
    """Probability that a crossing of `kind` with raw score `raw` is right (0..1)."""
    table = FIT.get(kind) or FIT.get("*")
    if not table:
        return raw
    xs, ys = table
    if raw <= xs[0]:
        return ys[0]
    if raw >= xs[-1]:
        return ys[-1]
    k = bisect_right(xs, raw)
    x0, x1, y0, y1 = xs[k - 1], xs[k], ys[k - 1], ys[k]
    return round(y0 + (y1 - y0) * (raw - x0) / (x1 - x0), 4)
