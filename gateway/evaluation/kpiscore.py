"""Score the visitor KPIs against simulated truth: passers-by, capture rate, transactions,
conversion and visit length (mean by Little's law, median and p90 from the entry-exit pairing
posterior, and FIFO's for comparison). `doorcount eval --json` adds them to `metrics`.

Both sides go through the same `SiteLayout` (as `gateway.evaluation.metrics` does): a
perimeter crossing is a passer-by, a site entry by anyone the layout calls a visitor is a
visitor entry. The measured side sees only what a deployment sees (counted crossings, the badge
episodes that make a crossing staff, as the live gateway claims them, and till counts); the
truth side knows who was a visitor (`who` of the truth lines) and every visit
(`visit` lines). Each metric is `{"value", "truth", "error", "relative_error"}` with
error = value - truth; a blank side (a zero denominator) makes the errors blank too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gateway.core.badges import BadgeEpisode, attribute
from gateway.core.events import Crossing
from gateway.core.site import Classified, SiteLayout
from gateway.evaluation.metrics import truth_counted
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
"""The KPIs `doorcount eval --json` reports; `fifo_*` beside them document FIFO's bias."""


@dataclass(frozen=True, slots=True)
class Metric:
    value: float | None
    truth: float | None

    @property
    def error(self) -> float | None:
        if self.value is None or self.truth is None:
            return None
        return self.value - self.truth

    @property
    def relative_error(self) -> float | None:
        if self.error is None or not self.truth:
            return None
        return self.error / self.truth

    def to_json(self) -> dict[str, float | None]:
        return {
            "value": _round(self.value),
            "truth": _round(self.truth),
            "error": _round(self.error),
            "relative_error": _round(self.relative_error),
        }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


@dataclass(frozen=True, slots=True)
class _Side:
    passers: int
    entries: int
    passages: list[Passage]


def _side(items: Iterable[Classified], start: float, end: float) -> _Side:
    passers = entries = 0
    passages: list[Passage] = []
    for c in items:
        if not start <= c.crossing.t < end:
            continue
        if c.audience == "passerby":
            passers += 1
            continue
        way = c.site_direction
        if c.audience != "visitor" or way is None:
            continue
        entries += way == "in"
        passages.append(Passage(c.crossing.t, way))
    return _Side(passers, entries, passages)


def score_kpis(
    layout: SiteLayout,
    truth: Sequence[Truth],
    visits: Sequence[Visit],
    counted: Sequence[Crossing],
    *,
    start: float,
    end: float,
    badges: Iterable[BadgeEpisode] = (),
) -> dict[str, Metric]:
    """The KPIs over [start, end), a period that starts and ends with the site empty (a
    shop's day): the mean visit is Little's law after the day's counting residual is spread
    over its crossings (`balanced_day`); median and p90 come from the pairing posterior
    (`paired_lengths`) and, as `fifo_*`, from FIFO. Transactions are the visits' purchases:
    a till count has no counting error, so conversion's error is the visitor count's.
    `badges`: episodes in which a node heard a registered staff badge; each makes one counted
    crossing staff (`attribute`, the live gateway's rule), so a badge wearer's stay is no visit.
    """
    lo, hi = math.floor(start), math.ceil(end)
    staff = attribute(counted, badges)
    measured = _side(
        (layout.classify(c, badge=i in staff) for i, c in enumerate(counted)), start, end
    )
    true = _side((c for t in truth if (c := truth_counted(layout, t)) is not None), start, end)
    known = bool(visits)  # without visit truth, sales and visit lengths have no truth
    sales = sum(1 for v in visits if v.purchase_t is not None and start <= v.purchase_t < end)
    day = balanced_day(measured.passages, lo, hi)
    fifo = fifo_lengths(measured.passages, start, end)
    paired = paired_lengths(measured.passages, start, end) if known else None
    lengths = np.asarray(
        [v.t_out - v.t_in for v in visits if v.t_out is not None and start <= v.t_in < end],
        dtype=np.float64,
    )
    some = lengths.size > 0
    true_mean = float(np.mean(lengths)) if some else None
    true_median = float(np.median(lengths)) if some else None
    true_p90 = float(np.quantile(lengths, 0.9)) if some else None
    return {
        "passers_by": Metric(float(measured.passers), float(true.passers)),
        "capture_rate": Metric(
            ratio(measured.entries, measured.passers), ratio(true.entries, true.passers)
        ),
        "transactions": Metric(float(sales), float(sales)) if known else Metric(None, None),
        "conversion": Metric(ratio(sales, measured.entries), ratio(sales, true.entries))
        if known
        else Metric(None, None),
        "mean_visit_s": Metric(day.mean_s, true_mean),
        "median_visit_s": Metric(None if paired is None else paired.median_s, true_median),
        "p90_visit_s": Metric(None if paired is None else paired.p90_s, true_p90),
        "fifo_median_visit_s": Metric(fifo.median_s, true_median),
        "fifo_p90_visit_s": Metric(fifo.p90_s, true_p90),
    }


def kpis_json(
    layout: SiteLayout,
    truth: Sequence[Truth],
    visits: Sequence[Visit],
    counted: Sequence[Crossing],
    badges: Iterable[BadgeEpisode] = (),
) -> dict[str, Any]:
    """The KPI part of `metrics` over the whole trace: `{name: {value, truth, error, ...}}`
    plus `kpi_period` (Unix seconds); `badges` as for `score_kpis`. Without visit truth
    (`visit` lines) transactions, conversion and the median and p90 are blank (the pairing
    posterior is not even run)."""
    times = [t.t for t in truth] + [c.t for c in counted] + [v.t_in for v in visits]
    times += [v.t_out for v in visits if v.t_out is not None]
    if not times:
        return {}
    start, end = math.floor(min(times)), math.ceil(max(times)) + 1
    scored = score_kpis(layout, truth, visits, counted, start=start, end=end, badges=badges)
    out: dict[str, Any] = {name: m.to_json() for name, m in scored.items()}
    out["kpi_period"] = {"start": start, "end": end}
    return out
