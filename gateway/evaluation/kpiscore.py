"""Score the visitor KPIs against simulated truth: passers-by, capture rate, transactions,
conversion and visit length (mean by Little's law, median and p90 by FIFO pairing).

The measured side sees only what a deployment sees: counted crossings per door (entrance and
perimeter roles) and till transactions per interval. The truth side reads the trace's `truth`
and `visit` lines. Each metric is `{"value": measured, "truth": true, "error": relative}`;
`error` is (value - truth) / truth, and None where either side is blank.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from gateway.evaluation.scoring import Counted
from gateway.insight.kpis import ratio
from gateway.insight.visits import Passage, balanced_day, fifo_lengths, paired_lengths
from gateway.protocol.trace import Truth, Visit

METRICS = (
    "passers_by",
    "capture_rate",
    "transactions",
    "conversion",
    "mean_visit_s",
    "median_visit_s",
    "p90_visit_s",
)
"""The metrics `doorcount eval --json` reports; `fifo_*` document the FIFO pairing's bias."""


@dataclass(frozen=True, slots=True)
class Metric:
    value: float | None
    truth: float | None

    @property
    def error(self) -> float | None:
        if self.value is None or self.truth is None or self.truth == 0:
            return None
        return (self.value - self.truth) / self.truth

    def to_json(self) -> dict[str, float | None]:
        return {
            "value": _round(self.value),
            "truth": _round(self.truth),
            "error": _round(self.error),
        }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def score_kpis(
    counted: Sequence[Counted],
    truth: Sequence[Truth],
    visits: Sequence[Visit],
    *,
    entrances: Collection[str],
    perimeter: Collection[str] = (),
    start: float,
    end: float,
) -> dict[str, Metric]:
    """The KPIs over [start, end), a day that starts and ends empty (a shop's opening day):
    the mean visit is Little's law after the day's counting residual is spread over its
    crossings (`balanced_day`), median and p90 from the pairing posterior (`paired_lengths`),
    and for comparison from FIFO pairing (`fifo_*`).

    `entrances` are the doors visitors use (their `in` counts are visitor entries);
    `perimeter` doors count passers-by in both directions. Transactions are the visits'
    purchases in the period: a till count has no counting error, so its error is 0 by
    construction, and conversion's error is the entry count's.
    """
    lo = math.floor(start)
    hi = math.ceil(end)

    def inside(t: float) -> bool:
        return start <= t < end

    entries_counted = sum(
        1 for c in counted if c.door in entrances and c.direction == "in" and inside(c.t)
    )
    entries_true = sum(
        1 for t in truth if t.door in entrances and t.direction == "in" and inside(t.t)
    )
    passers_counted = sum(1 for c in counted if c.door in perimeter and inside(c.t))
    passers_true = sum(
        1 for t in truth if t.door in perimeter and t.direction != "none" and inside(t.t)
    )
    sales = sum(1 for v in visits if v.purchase_t is not None and inside(v.purchase_t))

    passages = [Passage(c.t, c.direction) for c in counted if c.door in entrances and inside(c.t)]
    day = balanced_day(passages, lo, hi)
    fifo = fifo_lengths(passages, start, end)
    paired = paired_lengths(passages, start, end)
    lengths = np.asarray(
        [
            v.t_out - v.t_in
            for v in visits
            if v.t_out is not None and v.door_in in entrances and inside(v.t_in)
        ],
        dtype=np.float64,
    )
    some = lengths.size > 0
    true_median = float(np.median(lengths)) if some else None
    true_p90 = float(np.quantile(lengths, 0.9)) if some else None
    perimeter_on = bool(perimeter)
    return {
        "passers_by": Metric(
            float(passers_counted) if perimeter_on else None,
            float(passers_true) if perimeter_on else None,
        ),
        "capture_rate": Metric(
            ratio(entries_counted, passers_counted) if perimeter_on else None,
            ratio(entries_true, passers_true) if perimeter_on else None,
        ),
        "transactions": Metric(float(sales), float(sales)),
        "conversion": Metric(ratio(sales, entries_counted), ratio(sales, entries_true)),
        "mean_visit_s": Metric(day.mean_s, float(np.mean(lengths)) if some else None),
        "median_visit_s": Metric(paired.median_s, true_median),
        "p90_visit_s": Metric(paired.p90_s, true_p90),
        "fifo_median_visit_s": Metric(fifo.median_s, true_median),
        "fifo_p90_visit_s": Metric(fifo.p90_s, true_p90),
    }
