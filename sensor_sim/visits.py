"""Visits: each person heading in stays for a dwell drawn from the preset's distribution, may
pay at a till, and leaves by the same door. The plan feeds the door's traffic planner; the
realised crossings (after queueing at the door) become the `visit` truth lines of the trace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sensor_sim.scenarios import Mix, Visits

EXIT_MARGIN_S = 10.0
"""A planned exit later than the trace's end minus this is left out: the visitor stays."""


@dataclass(frozen=True, slots=True)
class PlannedVisit:
    """Times in seconds since the trace start; `pay_before_exit` None when nothing is bought."""

    t_in: float
    dwell: float
    pay_before_exit: float | None
    kind: str  # single or cart, both ways

    @property
    def t_out(self) -> float:
        return self.t_in + self.dwell


def dwell_times(rng: np.random.Generator, v: Visits, n: int) -> np.ndarray:
    """`n` dwell times (s): lognormal with median `dwell_median_s`, clipped to the range."""
    lo, hi = v.dwell_range_s
    return np.clip(rng.lognormal(math.log(v.dwell_median_s), v.dwell_sigma, n), lo, hi)


def plan_visits(
    rng: np.random.Generator, v: Visits, mix: Mix, entries: np.ndarray
) -> list[PlannedVisit]:
    """One visit per entry time, in entry order."""
    n = len(entries)
    dwell = dwell_times(rng, v, n)
    buys = rng.random(n) < v.buy_share
    lo, hi = v.pay_before_exit_s
    pay = rng.uniform(lo, hi, n)
    weights = mix.single + mix.cart
    carts = rng.random(n) < (mix.cart / weights if weights else 0.0)
    return [
        PlannedVisit(
            float(entries[i]),
            float(dwell[i]),
            float(min(pay[i], dwell[i] / 2)) if buys[i] else None,
            "cart" if carts[i] else "single",
        )
        for i in range(n)
    ]
