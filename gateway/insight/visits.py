"""Visit length from anonymous counts: occupancy-seconds, Little's law and a FIFO estimate.

No visitor is ever identified. Three figures come from entries and exits alone:

- **occupancy-seconds** of an interval: the integral of people inside over it (person-seconds).
  It is additive: the figure of a day is the sum of its intervals', a site's the sum of its
  zones', a group's the sum of its sites'.
- **mean visit length** over a period = occupancy-seconds / entries (Little's law, L = lambda W).
  When the period starts and ends with nobody inside (a closed day), the sum of the visit
  lengths IS the integral of occupancy, so the mean is exact; otherwise visits cut by the
  period's edges bias it and `MeanVisit.exact` says so.
- **median and 90th percentile** per day from a first-in-first-out pairing of the day's
  entries with its exits (the k-th entry leaves with the k-th exit), as entry/exit dwell
  counters do. The pairing keeps the total (its mean equals Little's) but not the spread: real
  visitors overtake each other, FIFO never does, so it narrows the distribution -- the short
  visits come out longer and the long ones shorter. README and `docs/visits.md` give the bias
  measured against simulated truth (`benchmarks/visits_fifo.py`).

Everything here is pure and deterministic (sans-IO), like the counting engine.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np

Direction = Literal["in", "out"]


@dataclass(frozen=True, slots=True)
class Passage:
    """One counted crossing into (`in`) or out of (`out`) a zone at Unix time `t`."""

    t: float
    direction: Direction


@dataclass(frozen=True, slots=True)
class OccupancyInterval:
    """One interval of one zone: counts, people inside at both edges, and person-seconds.

    `corrected` counts exits that would have taken the zone below zero (a missed entry, or
    someone who came in by an uncounted way): they are ignored, as the gateway's occupancy is
    floored at zero, so `occupancy_s` is never negative.
    """

    start: int
    seconds: int
    entries: int
    exits: int
    inside_start: int
    inside_end: int
    occupancy_s: float
    corrected: int

    @property
    def end(self) -> int:
        return self.start + self.seconds


def occupancy_intervals(
    passages: Iterable[Passage],
    start: int,
    end: int,
    seconds: int = 60,
    inside: int = 0,
) -> list[OccupancyInterval]:
    """Integrate people inside over [start, end) in intervals of `seconds`.

    `inside` is the level at `start`. Passages outside [start, end) are ignored; at equal
    times entries are applied before exits (so nobody is floored away by a tie).
    """
    if seconds <= 0:
        raise ValueError(f"interval seconds must be > 0, got {seconds}")
    if end < start or (end - start) % seconds:
        raise ValueError(f"[{start}, {end}) is not a whole number of {seconds} s intervals")
    if inside < 0:
        raise ValueError(f"people inside cannot be negative, got {inside}")
    ordered = sorted(
        (p for p in passages if start <= p.t < end), key=lambda p: (p.t, p.direction != "in")
    )
    rows: list[OccupancyInterval] = []
    i = 0
    for left in range(start, end, seconds):
        right = left + seconds
        level, at = inside, float(left)
        area = 0.0
        entries = exits = corrected = 0
        while i < len(ordered) and ordered[i].t < right:
            p = ordered[i]
            area += level * (p.t - at)
            at = p.t
            if p.direction == "in":
                entries += 1
                level += 1
            elif level == 0:
                exits += 1
                corrected += 1
            else:
                exits += 1
                level -= 1
            i += 1
        area += level * (right - at)
        rows.append(
            OccupancyInterval(left, seconds, entries, exits, inside, level, area, corrected)
        )
        inside = level
    return rows


def roll_up(rows: Sequence[OccupancyInterval]) -> OccupancyInterval:
    """Several zones' intervals over the same span, or one zone's consecutive intervals, as one.

    Counts and occupancy-seconds add. For consecutive intervals of one zone the edges are the
    first's start level and the last's end level; for zones side by side they add too.
    """
    if not rows:
        raise ValueError("nothing to roll up")
    starts = {r.start for r in rows}
    side_by_side = len(starts) == 1 and len({r.seconds for r in rows}) == 1
    ordered = sorted(rows, key=lambda r: r.start)
    if side_by_side:
        inside_start = sum(r.inside_start for r in rows)
        inside_end = sum(r.inside_end for r in rows)
        seconds = rows[0].seconds
    else:
        for a, b in itertools.pairwise(ordered):
            if a.end != b.start:
                raise ValueError(f"intervals at {a.start} and {b.start} are not consecutive")
        inside_start, inside_end = ordered[0].inside_start, ordered[-1].inside_end
        seconds = ordered[-1].end - ordered[0].start
    return OccupancyInterval(
        ordered[0].start,
        seconds,
        sum(r.entries for r in rows),
        sum(r.exits for r in rows),
        inside_start,
        inside_end,
        math.fsum(r.occupancy_s for r in rows),
        sum(r.corrected for r in rows),
    )


@dataclass(frozen=True, slots=True)
class MeanVisit:
    """Little's-law mean visit length over [start, end); `mean_s` is None without entries."""

    start: int
    end: int
    entries: int
    occupancy_s: float
    inside_start: int
    inside_end: int
    corrected: int
    mean_s: float | None

    @property
    def exact(self) -> bool:
        """Nobody inside at either edge and no floor corrections: the mean is exact."""
        return self.inside_start == 0 and self.inside_end == 0 and self.corrected == 0

    @property
    def condition(self) -> str:
        """Why the figure is exact, or what makes it an estimate, in one line."""
        if self.mean_s is None:
            return "no entries in the period: no visit length"
        if self.exact:
            return "exact: the period starts and ends empty (Little's law)"
        reasons = []
        if self.inside_start:
            reasons.append(f"{self.inside_start} inside at the start")
        if self.inside_end:
            reasons.append(f"{self.inside_end} inside at the end")
        if self.corrected:
            reasons.append(f"{self.corrected} exits corrected at zero")
        return "estimate: " + ", ".join(reasons)

    def to_json(self) -> dict[str, object]:
        return {
            "start": self.start,
            "end": self.end,
            "entries": self.entries,
            "occupancy_s": self.occupancy_s,
            "mean_visit_s": self.mean_s,
            "exact": self.exact,
            "condition": self.condition,
        }


def mean_visit(rows: Sequence[OccupancyInterval]) -> MeanVisit:
    """Little's law over consecutive intervals of one zone (or zones rolled up per interval)."""
    total = roll_up(rows)
    mean = total.occupancy_s / total.entries if total.entries else None
    return MeanVisit(
        total.start,
        total.end,
        total.entries,
        total.occupancy_s,
        total.inside_start,
        total.inside_end,
        total.corrected,
        mean,
    )


@dataclass(frozen=True, slots=True)
class FifoVisits:
    """Visit lengths of one closed period from FIFO pairing, and what could not be paired."""

    start: int
    end: int
    pairs: int
    unpaired_entries: int  # still inside at the end: paired with nothing
    unpaired_exits: int  # left before anyone counted in (floor corrections)
    mean_s: float | None
    median_s: float | None
    p90_s: float | None

    def to_json(self) -> dict[str, object]:
        return {
            "start": self.start,
            "end": self.end,
            "pairs": self.pairs,
            "unpaired_entries": self.unpaired_entries,
            "unpaired_exits": self.unpaired_exits,
            "mean_visit_s": self.mean_s,
            "median_visit_s": self.median_s,
            "p90_visit_s": self.p90_s,
            "method": "FIFO pairing of entries and exits (narrows the spread; see docs/visits.md)",
        }


def fifo_lengths(passages: Iterable[Passage], start: float, end: float) -> FifoVisits:
    """Pair the k-th entry with the k-th exit in [start, end); an exit with nobody waiting
    inside is unpaired (it cannot belong to a visit that started in the period)."""
    ordered = sorted(
        (p for p in passages if start <= p.t < end), key=lambda p: (p.t, p.direction != "in")
    )
    pairs = _fifo_pairs(ordered)
    lengths = [x - e for e, x in pairs if not (math.isnan(e) or math.isnan(x))]
    values = np.asarray(lengths, dtype=np.float64)
    some = values.size > 0
    return FifoVisits(
        math.floor(start),
        math.ceil(end),
        int(values.size),
        sum(math.isnan(x) for _, x in pairs),
        sum(math.isnan(e) for e, _ in pairs),
        float(np.mean(values)) if some else None,
        float(np.median(values)) if some else None,
        float(np.quantile(values, 0.9)) if some else None,
    )


def _fifo_pairs(ordered: list[Passage]) -> list[tuple[float, float]]:
    """The k-th entry with the k-th exit of time-ordered passages, as (entry, exit) times: an
    exit with nobody waiting inside pairs with NaN, and so does each entry still inside at the
    end."""
    pairs: list[tuple[float, float]] = []
    queue: list[float] = []
    head = 0
    for p in ordered:
        if p.direction == "in":
            queue.append(p.t)
        elif head < len(queue):
            pairs.append((queue[head], p.t))
            head += 1
        else:
            pairs.append((math.nan, p.t))
    return pairs + [(t, math.nan) for t in queue[head:]]


@dataclass(frozen=True, slots=True)
class BalancedDay:
    """Little's law on a day known to close empty, after spreading the counting residual.

    A shop is empty before opening and after closing, so a counted day that ends with
    `residual` = entries - exits != 0 reveals counting errors. They are assumed to happen in
    proportion to traffic: the level after the k-th of n crossings is corrected by
    residual * k / n, then floored at zero; visitors are (entries + exits) / 2.
    """

    start: int
    end: int
    entries: int
    exits: int
    residual: int
    occupancy_s: float
    mean_s: float | None

    def to_json(self) -> dict[str, object]:
        return {
            "start": self.start,
            "end": self.end,
            "entries": self.entries,
            "exits": self.exits,
            "residual": self.residual,
            "occupancy_s": self.occupancy_s,
            "mean_visit_s": self.mean_s,
            "condition": "closed day, counting residual spread over its crossings",
        }


def balanced_day(passages: Iterable[Passage], start: int, end: int) -> BalancedDay:
    """The day's occupancy-seconds and mean visit with the closing residual removed."""
    ordered = sorted(
        (p for p in passages if start <= p.t < end), key=lambda p: (p.t, p.direction != "in")
    )
    times = np.asarray([p.t for p in ordered], dtype=np.float64)
    steps = np.asarray([1 if p.direction == "in" else -1 for p in ordered], dtype=np.int64)
    entries = int(np.count_nonzero(steps == 1))
    exits = len(ordered) - entries
    residual = entries - exits
    if not ordered:
        return BalancedDay(start, end, 0, 0, 0, 0.0, None)
    raw = np.cumsum(steps)  # level after each crossing
    drift = residual * np.arange(1, len(ordered) + 1) / len(ordered)
    level = np.maximum(raw - drift, 0.0)
    spans = np.diff(np.append(times, float(end)))
    area = math.fsum((level * spans).tolist())
    visitors = (entries + exits) / 2
    return BalancedDay(
        start, end, entries, exits, residual, area, area / visitors if visitors else None
    )


@dataclass(frozen=True, slots=True)
class PairedVisits:
    """Median and p90 visit length from the posterior over entry-exit pairings.

    FIFO is one pairing out of many that the counts allow; the sampler weighs them all under
    a lognormal visit length (the usual right-skewed shape of lengths of stay): it swaps the
    exits of two visitors when the lognormal likes the swapped lengths better (Metropolis),
    and redraws the lognormal's parameters from the current lengths (conjugate Gibbs step).
    The mean it implies is pinned by the data (every pairing has the same total, Little's law);
    the spread is what FIFO loses. The answer is as good as the lognormal assumption: see
    docs/visits.md for the measured errors, also on visit lengths that are not lognormal.
    Deterministic: a fixed seed.
    """

    start: int
    end: int
    pairs: int
    sigma: float | None  # log-sd of the lognormal (posterior mean)
    median_s: float | None
    p90_s: float | None

    def to_json(self) -> dict[str, object]:
        return {
            "start": self.start,
            "end": self.end,
            "pairs": self.pairs,
            "sigma": self.sigma,
            "median_visit_s": self.median_s,
            "p90_visit_s": self.p90_s,
            "method": "posterior over entry-exit pairings, lognormal lengths (docs/visits.md)",
        }


_Z90 = NormalDist().inv_cdf(0.9)


def paired_lengths(
    passages: Iterable[Passage],
    start: float,
    end: float,
    *,
    sweeps: int = 600,
    chains: int = 4,
    seed: int = 0,
) -> PairedVisits:
    """Median and p90 of the day's visit lengths. `chains` independent chains of `sweeps`
    sweeps each start from a FIFO pairing; their second halves are pooled.

    A day whose entries and exits do not balance (a crossing missed or counted wrongly) has
    `residual` crossings of the larger side without a partner. Where they were is not in the
    counts, and a lognormal with free parameters cannot tell either: leaving a mid-day entry
    out shortens every later FIFO pair by one arrival gap, which the fitted median absorbs.
    So, as `balanced_day` spreads the residual in proportion to traffic, chain c leaves out
    the crossings at traffic quantiles (j + (c + 1/2) / chains) / residual of that side, and
    the pooled chains average over where they were (`docs/visits.md`). Where leaving them out
    there would pair an exit before its entry, the chain leaves out what FIFO cannot pair:
    exits with nobody inside and entries still inside at the end."""
    ordered = sorted(
        (p for p in passages if start <= p.t < end), key=lambda p: (p.t, p.direction != "in")
    )
    ins = [p.t for p in ordered if p.direction == "in"]
    outs = [p.t for p in ordered if p.direction == "out"]
    lo, hi = math.floor(start), math.ceil(end)
    starts = [_start(ins, outs, ordered, chain, chains) for chain in range(chains)]
    n = int(np.count_nonzero(~np.isnan(starts[0][0] - starts[0][1]))) if starts else 0
    if n < 2:
        return PairedVisits(lo, hi, n, None, None, None)
    drawn: list[tuple[float, float]] = []
    for chain, (entry, exit_) in enumerate(starts):
        drawn.extend(_chain(entry, exit_, sweeps, seed + chain))
    ms = np.asarray(drawn, dtype=np.float64)
    return PairedVisits(
        lo,
        hi,
        n,
        float(ms[:, 1].mean()),
        float(np.exp(ms[:, 0]).mean()),
        float(np.exp(ms[:, 0] + _Z90 * ms[:, 1]).mean()),
    )


def _start(
    ins: list[float], outs: list[float], ordered: list[Passage], chain: int, chains: int
) -> tuple[np.ndarray, np.ndarray]:
    """One chain's first pairing: (entry, exit) times in entry order, NaN for no partner."""
    residual = len(ins) - len(outs)
    side = ins if residual > 0 else outs
    left = {
        min(len(side) - 1, int(len(side) * (j + (chain + 0.5) / chains) / abs(residual)))
        for j in range(abs(residual))
    }
    kept = [t for k, t in enumerate(side) if k not in left]
    pairs = list(zip(kept, outs, strict=True) if residual > 0 else zip(ins, kept, strict=True))
    if any(x <= e for e, x in pairs):
        pairs = _fifo_pairs(ordered)
    else:
        pairs += [(side[k], math.nan) if residual > 0 else (math.nan, side[k]) for k in left]
    pairs.sort(key=lambda ex: ex[1] if math.isnan(ex[0]) else ex[0])
    return (
        np.asarray([e for e, _ in pairs], dtype=np.float64),
        np.asarray([x for _, x in pairs], dtype=np.float64),
    )


def _chain(
    entry: np.ndarray, exit_: np.ndarray, sweeps: int, seed: int
) -> list[tuple[float, float]]:
    """One Metropolis-within-Gibbs chain from a first pairing; (log-median, log-sd) draws of
    its second half. A pair without a partner (NaN) has the same likelihood wherever it is,
    so only the paired lengths weigh a swap, and only they fit the lognormal."""
    n = len(entry)
    exit_ = exit_.copy()
    with np.errstate(invalid="ignore"):
        log_len = np.log(np.maximum(exit_ - entry, 1e-3))
    paired = ~np.isnan(log_len)
    rng = np.random.default_rng(seed)
    mean_inside = float(np.nansum(exit_ - entry)) / max(
        float(np.nanmax(exit_) - np.nanmin(entry)), 1.0
    )
    window = int(min(n - 1, max(10, 4 * math.ceil(mean_inside))))
    m, s = float(log_len[paired].mean()), max(float(log_len[paired].std()), 1e-3)
    drawn: list[tuple[float, float]] = []
    for sweep in range(sweeps):
        first = rng.integers(0, n, n)
        second = first + rng.integers(-window, window + 1, n)
        chance = np.log(rng.random(n))
        for i, j, u in zip(first.tolist(), second.tolist(), chance.tolist(), strict=True):
            if j < 0 or j >= n or j == i:
                continue
            # exits are indexed by the entry they are paired with: swap exit_[i], exit_[j]
            a = exit_[j] - entry[i]
            b = exit_[i] - entry[j]
            if a <= 0 or b <= 0:  # an exit before its entry (NaN, no partner, passes)
                continue
            la = a if math.isnan(a) else math.log(a)
            lb = b if math.isnan(b) else math.log(b)
            gain = _weight(la, m, s) + _weight(lb, m, s)
            gain -= _weight(log_len[i], m, s) + _weight(log_len[j], m, s)
            if gain >= 0 or u < gain:
                exit_[i], exit_[j] = exit_[j], exit_[i]
                log_len[i], log_len[j] = la, lb
        lengths = log_len[~np.isnan(log_len)]
        k = len(lengths)
        centre, spread = float(lengths.mean()), float(lengths.std())
        s = math.sqrt(spread * spread * k / rng.chisquare(k - 1))
        m = float(rng.normal(centre, s / math.sqrt(k)))
        if sweep >= sweeps // 2:
            drawn.append((m, s))
    return drawn


def _weight(log_length: float, m: float, s: float) -> float:
    """Log-density of a visit length under the lognormal (up to a constant), given its log;
    0 for a crossing without a partner (NaN): its likelihood does not depend on the pairing."""
    if math.isnan(log_length):
        return 0.0
    return -log_length - (log_length - m) ** 2 / (2 * s * s)
