"""Visit length and conversion from counts, scored against simulated truth.

    python -m benchmarks.visits [--seeds 1 2 3 4 5] [--base single-file] [--markdown]
    python -m benchmarks.visits --synthetic 20      # the estimators alone, several dwell shapes

The first table simulates a shop day (the `--base` preset's physics and faults, 4 arrivals/min
of which half come in, 6 hours open, everyone gone 2.5 hours later; lognormal visit lengths,
median 12 min, log-sd 0.7; 30% buy), counts it with the engine and compares each figure with
the trace's visit truth: the mean by Little's law raw and after spreading the closing residual
(`balanced_day`), median and p90 from the pairing posterior (`paired_lengths`) and from FIFO.
The second table draws visit-level days only (no counting error) for three dwell shapes, to
show FIFO's bias and the posterior's dependence on the lognormal assumption. Not a test: the
figures are measured, printed and copied into docs/visits.md by hand.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from gateway.config import site_layout
from gateway.core.site import SiteLayout
from gateway.evaluation.kpiscore import kpis_json, score_kpis
from gateway.evaluation.replay import replay
from gateway.evaluation.scoring import Counted
from gateway.insight.visits import (
    Passage,
    fifo_lengths,
    mean_visit,
    occupancy_intervals,
    paired_lengths,
)
from gateway.protocol.trace import write_trace
from sensor_sim.generator import DEFAULT_START, generate
from sensor_sim.scenarios import Scenario, Visits, preset

OPEN_S = 6 * 3600.0
DAY_S = 8.5 * 3600.0


def shop(base: str) -> Scenario:
    sc = preset(base)
    visits = Visits(dwell_range_s=(30.0, 2 * 3600.0), open_s=OPEN_S, browse_share=0.2)
    traffic = replace(sc.traffic, rate_per_min=4.0, visits=visits)
    return replace(sc, name=f"{base}-shop", traffic=traffic, duration_s=DAY_S)


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:+.1f}%"


def simulated(seeds: list[int], base: str, markdown: bool) -> None:
    head = [
        "seed",
        "visits",
        "entries counted",
        "conversion",
        "mean (raw Little)",
        "mean (balanced)",
        "median (paired)",
        "median (FIFO)",
        "p90 (paired)",
        "p90 (FIFO)",
    ]
    rows: list[list[str]] = []
    errors: dict[str, list[float]] = {h: [] for h in head[3:]}
    for seed in seeds:
        header, records = generate(shop(base), DAY_S, seed)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "shop.jsonl"
            write_trace(path, header, records)
            result = replay(path)
        counted = [Counted(c.door, c.direction, c.t) for c in result.crossings]
        start = math.floor(DEFAULT_START.timestamp())
        layout = SiteLayout.default([d.door for d in header.doors])
        got = score_kpis(
            layout, result.truth, result.visits, result.crossings, start=start, end=start + 86400
        )
        raw = mean_visit(
            occupancy_intervals(
                [Passage(c.t, c.direction) for c in counted], start, start + 86400, 86400
            )
        )
        truth_mean = got["mean_visit_s"].truth
        raw_err = None if raw.mean_s is None or not truth_mean else raw.mean_s / truth_mean - 1
        cells = {
            "conversion": got["conversion"].error,
            "mean (raw Little)": raw_err,
            "mean (balanced)": got["mean_visit_s"].error,
            "median (paired)": got["median_visit_s"].error,
            "median (FIFO)": got["fifo_median_visit_s"].error,
            "p90 (paired)": got["p90_visit_s"].error,
            "p90 (FIFO)": got["fifo_p90_visit_s"].error,
        }
        for k, v in cells.items():
            if v is not None:
                errors[k].append(v)
        entries_true = sum(1 for t in result.truth if t.direction == "in")
        entries = sum(1 for c in counted if c.direction == "in")
        rows.append(
            [
                str(seed),
                str(len(result.visits)),
                f"{entries} ({_pct(entries / entries_true - 1)})",
                *(_pct(v) for v in cells.values()),
            ]
        )
    rows.append(
        ["mean |error|", "", "", *(_pct(float(np.mean(np.abs(v)))) for v in errors.values())]
    )
    rows.append(["max |error|", "", "", *(_pct(float(np.max(np.abs(v)))) for v in errors.values())])
    _print(f"shop day on `{base}` physics, errors against visit truth", head, rows, markdown)


SHOP_DAY = (
    "capture rate",
    "conversion",
    "mean visit",
    "median visit",
    "p90 visit",
    "median (FIFO)",
    "p90 (FIFO)",
)
_KEYS = (
    "capture_rate",
    "conversion",
    "mean_visit_s",
    "median_visit_s",
    "p90_visit_s",
    "fifo_median_visit_s",
    "fifo_p90_visit_s",
)


def shop_day(seeds: list[int], markdown: bool) -> None:
    """The `shop-day` preset as `doorcount eval --json` scores it (metrics of the whole day)."""
    head = ["seed", "visits", "passers-by (truth)", *SHOP_DAY]
    rows: list[list[str]] = []
    errors: dict[str, list[float]] = {k: [] for k in _KEYS}
    sc = preset("shop-day")
    for seed in seeds:
        header, records = generate(sc, sc.duration_s, seed)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "shop-day.jsonl"
            write_trace(path, header, records)
            result = replay(path)
        layout = site_layout(header.extra["layout"], [d.door for d in header.doors])
        got = kpis_json(layout, result.truth, result.visits, result.crossings, result.badges)
        for k in _KEYS:
            if got[k]["relative_error"] is not None:
                errors[k].append(got[k]["relative_error"])
        passers = got["passers_by"]
        rows.append(
            [
                str(seed),
                str(len(result.visits)),
                f"{passers['value']:.0f} ({passers['truth']:.0f})",
                *(_pct(got[k]["relative_error"]) for k in _KEYS),
            ]
        )
    rows.append(["mean abs", "", "", *(_pct(float(np.mean(np.abs(v)))) for v in errors.values())])
    rows.append(["max abs", "", "", *(_pct(float(np.max(np.abs(v)))) for v in errors.values())])
    _print("shop-day: KPI errors against truth (relative)", head, rows, markdown)


def synthetic(days: int, markdown: bool) -> None:
    head = ["dwell shape", "days", "median FIFO", "median paired", "p90 FIFO", "p90 paired"]
    rows = []
    for shape in ("lognormal", "gamma", "bimodal"):
        errs: dict[str, list[float]] = {h: [] for h in head[2:]}
        for seed in range(days):
            rng = np.random.default_rng(1000 + seed)
            n = int(rng.poisson(700))
            entries = rng.uniform(0, OPEN_S, n)
            if shape == "lognormal":
                lengths = rng.lognormal(math.log(720), 0.7, n)
            elif shape == "gamma":
                lengths = rng.gamma(2.0, 450.0, n)
            else:  # quick errands and long shops
                quick = rng.random(n) < 0.6
                lengths = np.where(
                    quick,
                    rng.lognormal(math.log(300), 0.4, n),
                    rng.lognormal(math.log(1800), 0.4, n),
                )
            ps = [Passage(float(a), "in") for a in entries]
            ps += [Passage(float(a + d), "out") for a, d in zip(entries, lengths, strict=True)]
            fifo = fifo_lengths(ps, 0, 86400)
            paired = paired_lengths(ps, 0, 86400)
            med, p90 = float(np.median(lengths)), float(np.quantile(lengths, 0.9))
            assert fifo.median_s is not None
            assert fifo.p90_s is not None
            assert paired.median_s is not None
            assert paired.p90_s is not None
            errs["median FIFO"].append(fifo.median_s / med - 1)
            errs["median paired"].append(paired.median_s / med - 1)
            errs["p90 FIFO"].append(fifo.p90_s / p90 - 1)
            errs["p90 paired"].append(paired.p90_s / p90 - 1)
        rows.append(
            [
                shape,
                str(days),
                *(
                    f"{_pct(float(np.mean(v)))} (max abs {100 * float(np.max(np.abs(v))):.1f}%)"
                    for v in errs.values()
                ),
            ]
        )
    _print("estimators alone: mean error over days (largest absolute)", head, rows, markdown)


def _print(title: str, head: list[str], rows: list[list[str]], markdown: bool) -> None:
    if markdown:
        print(f"\n{title}\n")
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for h in head:
        table.add_column(h, justify="right")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--base", default="single-file", help="preset giving physics and faults")
    parser.add_argument("--synthetic", type=int, metavar="DAYS", help="estimators alone")
    parser.add_argument("--shop-day", action="store_true", help="the shop-day preset's KPIs")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    if args.shop_day:
        shop_day(args.seeds, args.markdown)
    elif args.synthetic:
        synthetic(args.synthetic, args.markdown)
    else:
        simulated(args.seeds, args.base, args.markdown)


if __name__ == "__main__":
    main()
