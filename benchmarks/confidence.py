"""Fit the engine's confidence calibration, and show its reliability on held-out seeds.

    python -m benchmarks.confidence            # fit, write gateway/core/confidence_fit.py
    python -m benchmarks.confidence --check    # only the reliability table of the current fit

Traces: every preset of our simulator and every scenario of the independent generator, plus
the robustness sweep's hazard cells, on fit seeds; the held-out seeds are never fitted. Per
crossing kind with enough crossings (else pooled as "*"), an isotonic regression
(scikit-learn) of "matched a true crossing" on the raw score, kept as at most 16 knots.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import pprint
import subprocess
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from benchmarks.accuracy import INDEPENDENT, _independent
from benchmarks.robustness import Job, _cleanroom, _sim
from gateway.core import confidence
from gateway.core.engine import Engine
from gateway.core.events import Crossing
from gateway.evaluation.scoring import Counted, match
from gateway.protocol.trace import Record, Tick, TraceHeader, Truth
from sensor_sim.generator import generate
from sensor_sim.scenarios import PRESETS

FIT_SEEDS = (101, 102, 103)
CHECK_SEEDS = (201, 202)
MINUTES = 10.0
MIN_KIND = 300
"""Crossings a kind needs for a fit of its own; fewer are pooled."""
OUT = Path(__file__).resolve().parent.parent / "gateway" / "core" / "confidence_fit.py"

Sample = tuple[str, float, bool]  # kind, confidence, right


def _traces(seed: int) -> list[tuple[str, str, int]]:
    out = [("sim", name, seed) for name in PRESETS if name != "real-day"]
    out += [("cleanroom", name, seed) for name in INDEPENDENT]
    out += [("cell", str(k), seed) for k in range(8)]
    return out


def _cell(k: int, seed: int) -> tuple[TraceHeader, list[Record]]:
    spacing = (0.05, 0.12, 0.30)[k % 3]
    job = Job(
        "busy" if k % 2 else "single",
        "sim" if k < 4 else "cleanroom",
        spacing,
        0.35,
        False,
        0.35,
        ("slow", "walk", "brisk")[k % 3],
        seed,
        MINUTES,
    )
    return (_sim if job.gen == "sim" else _cleanroom)(job, k == 7)


def samples(task: tuple[str, str, int], raw: bool = False) -> list[Sample]:
    """(kind, confidence, right) of every counted crossing of one trace."""
    if raw:
        confidence.FIT = {}  # the raw scores (this worker process only)
    source, name, seed = task
    if source == "sim":
        header, records = generate(name, MINUTES * 60, seed)
    elif source == "cleanroom":
        header, records = _independent(name, MINUTES * 60, seed)
    else:
        header, records = _cell(int(name), seed)
    ticks = [r for r in records if isinstance(r, Tick)]
    truth = [r for r in records if isinstance(r, Truth)]
    counted = [
        (Counted(e.door, e.direction, e.t), e)
        for e in Engine(header.doors).run(ticks)
        if isinstance(e, Crossing)
    ]
    right = _right(truth, [c for c, _ in counted])
    return [(e.kind, e.confidence, ok) for (_, e), ok in zip(counted, right, strict=True)]


def _right(truth: list[Truth], counted: list[Counted]) -> list[bool]:
    """Which counted crossings match a true one (the scorer's one-to-one matching)."""
    flags = [False] * len(counted)
    keys: dict[tuple[str, str], list[int]] = defaultdict(list)
    for k, c in enumerate(counted):
        keys[(c.door, c.direction)].append(k)
    for key, idx in keys.items():
        tt = [t.t for t in truth if (t.door, t.direction) == key]
        _, _, pairs = match(tt, [counted[k].t for k in idx])
        for _, k in pairs:
            flags[idx[k]] = True
    return flags


def _raw(task: tuple[str, str, int]) -> list[Sample]:
    return samples(task, raw=True)


def _collect(seeds: Sequence[int], raw: bool, workers: int) -> list[Sample]:
    tasks = [t for seed in seeds for t in _traces(seed)]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        parts = pool.map(_raw if raw else samples, tasks, chunksize=2)
    return [s for part in parts for s in part]


def fit(data: list[Sample]) -> dict[str, tuple[tuple[float, ...], tuple[float, ...]]]:
    from sklearn.isotonic import IsotonicRegression

    by_kind: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for kind, conf, ok in data:
        by_kind[kind].append((conf, ok))
    groups = {k: v for k, v in by_kind.items() if len(v) >= MIN_KIND}
    groups["*"] = [x for k, v in by_kind.items() if k not in groups for x in v] or [
        x for v in by_kind.values() for x in v
    ]
    out: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {}
    for kind, pts in sorted(groups.items()):
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        iso.fit([p[0] for p in pts], [1.0 if p[1] else 0.0 for p in pts])
        xs = [float(x) for x in iso.X_thresholds_]
        ys = [float(y) for y in iso.y_thresholds_]
        step = max(1, len(xs) // 16)
        keep = sorted({*range(0, len(xs), step), len(xs) - 1})
        out[kind] = (tuple(round(xs[k], 4) for k in keep), tuple(round(ys[k], 4) for k in keep))
    return out


def table(data: list[Sample]) -> str:
    edges = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
    lines = ["confidence   crossings   share right"]
    for lo, hi in itertools.pairwise(edges):
        pts = [ok for _, c, ok in data if lo <= c < hi or (hi == 1.0 and c == 1.0)]
        share = f"{sum(pts) / len(pts):.3f}" if pts else "-"
        lines.append(f"{lo:4.2f}-{hi:4.2f}   {len(pts):>9}   {share:>11}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="reliability of the current fit")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    if not args.check:
        fitted = fit(_collect(FIT_SEEDS, raw=True, workers=args.workers))
        OUT.write_text(
            '"""Isotonic fit of crossing confidence, per kind: (raw scores, share right).\n\n'
            "Generated by `python -m benchmarks.confidence`; do not edit.\n"
            '"""\n\n'
            "FIT: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = "
            + pprint.pformat(fitted, width=96, compact=True)
            + "\n",
            encoding="utf-8",
        )
        # The repository's formatter owns the layout, so a refit diffs only in its numbers.
        fmt = [sys.executable, "-m", "ruff", "format", "-q", str(OUT)]
        subprocess.run(fmt, check=True)  # noqa: S603 - our formatter on our file, no shell
        print(f"wrote {OUT} ({', '.join(sorted(fitted))})")
    held_out = _collect(CHECK_SEEDS, raw=False, workers=args.workers)
    print(f"held-out seeds {list(CHECK_SEEDS)}, {MINUTES:g} min traces, calibrated confidence:")
    print(table(held_out))
    print()
    print("raw scores on the same traces:")
    print(table(_collect(CHECK_SEEDS, raw=True, workers=args.workers)))


if __name__ == "__main__":
    main()
