"""Data-quality checks of an hourly series before anyone forecasts or compares it.

A counter that fails rarely stops: it counts impossible numbers. The checks flag hours far
above what that hour of the week usually sees, and (for a counter of two directions) totals
of the two directions that drift far apart, as a beam or sensor fault does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

SPIKE_FACTOR = 8.0
SPIKE_FLOOR = 5.0
MAX_SPIKES = 3
MAX_IMBALANCE = 1.25


@dataclass(frozen=True)
class Quality:
    hours: int
    spikes: int  # hours above SPIKE_FACTOR x (that hour of the week's median + SPIKE_FLOOR)
    worst: float  # the largest hour
    imbalance: float | None  # larger / smaller direction total, when two directions are given
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check(
    hourly: pd.Series, one_way: pd.Series | None = None, other_way: pd.Series | None = None
) -> Quality:
    """Flag impossible spikes and, given both directions, an imbalance between them."""
    import numpy as np

    index = hourly.index
    hour_of_week = np.asarray(index.day_of_week) * 24 + np.asarray(index.hour)
    typical = hourly.groupby(hour_of_week).transform("median").to_numpy(float)
    values = hourly.to_numpy(float)
    spikes = int(np.sum(values > SPIKE_FACTOR * (typical + SPIKE_FLOOR)))
    problems = []
    if spikes > MAX_SPIKES:
        problems.append(
            f"{spikes} hours above {SPIKE_FACTOR:g}x the usual for their hour of the week "
            f"(largest {values.max():.0f})"
        )
    imbalance = None
    if one_way is not None and other_way is not None:
        a, b = float(one_way.sum()), float(other_way.sum())
        imbalance = max(a, b) / max(min(a, b), 1.0)
        if imbalance > MAX_IMBALANCE:
            problems.append(f"one direction counts {imbalance:.2f}x the other")
    return Quality(len(values), spikes, float(values.max()), imbalance, problems)
