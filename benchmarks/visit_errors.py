"""Where the shop-day visit-length error comes from: counted crossings against true ones.

    python -m benchmarks.visit_errors --seeds 1 2 3 4 5 6 --markdown

Per seed: the balanced Little mean on the trace's true crossings (classified as the gateway
classifies them) and on the engine's; how the engine's crossings differ from the true ones
(a true crossing counted the other way round is a *flip*; others are *missed* or *spurious*);
and two estimators meant to be robust to such errors, both fitted to the engine's crossings:
the difference of the mean exit and mean entry times, and the M/G/inf deconvolution (exits
are the entries delayed by lognormal visit lengths, plus spurious exits at a constant rate
and entries without a counted exit; Poisson point-process likelihood, scipy's Nelder-Mead).
Errors are relative to the visit truth's mean length; the last two columns are the pairing
posterior's median (`paired_lengths`) on the true and on the counted crossings, relative to
the truth's median: what the estimator costs with perfect counts, and what counting adds.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import numpy as np
from scipy import optimize, stats

from gateway.config import site_layout
from gateway.core.badges import attribute
from gateway.evaluation.kpiscore import _side
from gateway.evaluation.metrics import truth_counted
from gateway.evaluation.replay import replay
from gateway.insight.visits import Passage, balanced_day, paired_lengths
from gateway.protocol.trace import write_trace
from sensor_sim.generator import generate
from sensor_sim.scenarios import preset

MATCH_S = 3.0
"""A counted crossing within this many seconds of a true one at the same door is that one."""


def differences(true: list[Passage], counted: list[Passage]) -> tuple[int, int, int]:
    """(flips, missed, spurious) of the counted crossings against the true ones."""
    left = sorted(counted, key=lambda p: p.t)
    used = [False] * len(left)
    unmatched: list[Passage] = []
    for p in sorted(true, key=lambda p: p.t):
        hit = next(
            (
                i
                for i, q in enumerate(left)
                if not used[i] and q.direction == p.direction and abs(q.t - p.t) < MATCH_S
            ),
            None,
        )
        if hit is None:
            unmatched.append(p)
        else:
            used[hit] = True
    extra = [q for i, q in enumerate(left) if not used[i]]
    flips = 0
    for p in unmatched:
        hit = next(
            (
                i
                for i, q in enumerate(extra)
                if q.direction != p.direction and abs(q.t - p.t) < MATCH_S
            ),
            None,
        )
        if hit is not None:
            flips += 1
            extra.pop(hit)
    return flips, len(unmatched) - flips, len(extra)


def mg_inf_mean(passages: list[Passage], start: float, end: float) -> float:
    """Mean visit length of the M/G/inf model fitted to entry and exit times (see above)."""
    ins = np.asarray([p.t for p in passages if p.direction == "in"])
    outs = np.asarray([p.t for p in passages if p.direction == "out"])
    lag = outs[:, None] - ins[None, :]
    ahead = lag > 0
    log_lag = np.log(np.where(ahead, lag, 1.0))
    span = end - start

    def nll(x: np.ndarray) -> float:
        mu, log_s, logit_keep, log_eps = (float(v) for v in x)
        s, keep, eps = math.exp(log_s), 1 / (1 + math.exp(-logit_keep)), math.exp(log_eps)
        dens = np.where(ahead, stats.norm.pdf(log_lag, mu, s) / np.exp(log_lag), 0.0)
        rate = keep * dens.sum(axis=1) + eps
        expected = keep * stats.norm.cdf(np.log(np.maximum(end - ins, 1e-9)), mu, s).sum()
        return -(float(np.log(rate).sum()) - float(expected) - eps * span)

    x0 = np.asarray([math.log(900.0), math.log(0.6), 3.0, math.log(1.0 / span)])
    fit = optimize.minimize(nll, x0, method="Nelder-Mead", options={"maxiter": 4000})
    mu, log_s = float(fit.x[0]), float(fit.x[1])
    return math.exp(mu + math.exp(log_s) ** 2 / 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6])
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    head = [
        "seed",
        "flips",
        "missed",
        "spurious",
        "balanced, true crossings",
        "balanced, counted",
        "exit - entry mean times",
        "M/G/inf fit",
        "median, true crossings",
        "median, counted",
    ]
    rows: list[list[str]] = []
    sc = preset("shop-day")
    for seed in args.seeds:
        header, records = generate(sc, sc.duration_s, seed)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "shop-day.jsonl"
            write_trace(path, header, records)
            result = replay(path)
        layout = site_layout(header.extra["layout"], [d.door for d in header.doors])
        times = [t.t for t in result.truth] + [c.t for c in result.crossings]
        times += [v.t_in for v in result.visits]
        times += [v.t_out for v in result.visits if v.t_out is not None]
        start, end = math.floor(min(times)), math.ceil(max(times)) + 1
        staff = attribute(result.crossings, result.badges)
        counted = _side(
            (layout.classify(c, badge=i in staff) for i, c in enumerate(result.crossings)),
            start,
            end,
        ).passages
        true = _side(
            (c for t in result.truth if (c := truth_counted(layout, t)) is not None), start, end
        ).passages
        lengths = [v.t_out - v.t_in for v in result.visits if v.t_out is not None]
        truth_mean = float(np.mean(lengths))
        truth_median = float(np.median(lengths))
        flips, missed, spurious = differences(true, counted)
        ins = [p.t for p in counted if p.direction == "in"]
        outs = [p.t for p in counted if p.direction == "out"]
        estimates = [
            balanced_day(true, start, end).mean_s,
            balanced_day(counted, start, end).mean_s,
            float(np.mean(outs) - np.mean(ins)),
            mg_inf_mean(counted, start, end),
        ]
        rows.append(
            [
                str(seed),
                str(flips),
                str(missed),
                str(spurious),
                *(f"{(e or math.nan) / truth_mean - 1:+.1%}" for e in estimates),
                *(
                    f"{(median or math.nan) / truth_median - 1:+.1%}"
                    for median in (paired_lengths(p, start, end).median_s for p in (true, counted))
                ),
            ]
        )
        if not args.markdown:
            print(" | ".join(rows[-1]), flush=True)
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for row in rows:
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
