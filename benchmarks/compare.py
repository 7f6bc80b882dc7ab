"""Is an engine change's effect on the sweep's errors more than the traces' noise?

    python -m benchmarks.count_errors --cls busy --seeds 1 2 3 4 --json before.json
    (change the engine)
    python -m benchmarks.count_errors --cls busy --seeds 1 2 3 4 --json after.json
    python -m benchmarks.compare before.json --after after.json [--top 8]

Both runs see the same traces (the generators are seeded), so each trace (a sweep cell and a
seed) is a pair: its errors before and after. A rule that moves a few crossings a class can
gain on some seeds and lose on others (docs/engine.md, "Which hand model a door follows":
-25 errors on seeds 1-4, +11 on seeds 5-6). This prints the totals, how many traces got
better and worse, the sign test of those counts (scipy's exact binomial test: with no effect,
a trace that moved is as likely to have moved either way) and a bootstrap 95 % interval of
the change in total errors (scipy, resampling traces), then the classes and cells that moved
most. Several files per side (one per class) are read as one run.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import binomtest, bootstrap

SIGNIFICANT = 0.05
"""The sign test's two-sided p below which a change is called better or worse."""


class CompareError(ValueError):
    """A file that is not `count_errors --json` output, or runs that cannot be paired."""


@dataclass(frozen=True, slots=True)
class Run:
    """Errors per trace (cell, seed), and per cell by class, of one or more `--json` files."""

    traces: dict[tuple[str, str], int]
    classes: dict[str, Counter[str]]


def load(paths: Sequence[Path]) -> Run:
    traces: dict[tuple[str, str], int] = {}
    classes: dict[str, Counter[str]] = {}
    for path in paths:
        try:
            rows = json.loads(path.read_text())
        except OSError as exc:
            raise CompareError(f"{path}: {exc.strerror or exc}") from exc
        except json.JSONDecodeError as exc:
            raise CompareError(f"{path}: not JSON ({exc.msg}, line {exc.lineno})") from exc
        if not isinstance(rows, list):
            raise CompareError(f"{path}: expected the list `count_errors --json` writes")
        for n, row in enumerate(rows, 1):
            if not isinstance(row, dict) or not {"cls", "cell", "classes", "seeds"} <= row.keys():
                raise CompareError(
                    f"{path}: row {n} lacks cls, cell, classes or seeds (written by a "
                    "`count_errors` from before per-seed figures? run it again)"
                )
            cell = f"{row['cls']}: {row['cell']}"
            if cell in classes:
                raise CompareError(f"{path}: cell {cell!r} appears twice across the files")
            classes[cell] = Counter({str(k): int(v) for k, v in row["classes"].items()})
            for seed, errors in row["seeds"].items():
                traces[(cell, str(seed))] = int(errors)
    return Run(traces, classes)


def compare(before: Run, after: Run, top: int = 8) -> list[str]:
    """The lines `main` prints."""
    keys = sorted(before.traces)
    if sorted(after.traces) != keys:
        only = set(before.traces) ^ set(after.traces)
        cell, seed = sorted(only)[0]
        raise CompareError(
            f"the runs cover different traces ({len(only)} in one only, e.g. {cell!r} seed "
            f"{seed}): run both with the same --cls, --seeds, --minutes and --gen"
        )
    if not keys:
        raise CompareError("no traces in the files")
    diff = np.array([after.traces[k] - before.traces[k] for k in keys], dtype=float)
    better, worse = int((diff < 0).sum()), int((diff > 0).sum())
    total_before = sum(before.traces.values())
    total_after = sum(after.traces.values())
    lines = [
        f"{len(keys)} traces ({len(before.classes)} cells): errors {total_before} -> "
        f"{total_after} ({total_after - total_before:+d}); {better} traces better, {worse} "
        f"worse, {len(keys) - better - worse} unchanged"
    ]
    if better + worse == 0:
        lines.append("no trace moved: the change made no difference here")
        return lines
    p = float(binomtest(better, better + worse, 0.5).pvalue)
    if np.all(diff == diff[0]):
        low = high = float(diff.sum())
    else:
        ci = bootstrap(
            (diff,),
            lambda x, axis: np.sum(x, axis=axis),
            confidence_level=0.95,
            n_resamples=2000,
            method="percentile",
            random_state=np.random.default_rng(0),
        ).confidence_interval
        low, high = float(ci.low), float(ci.high)
    if p < SIGNIFICANT:
        verdict = "better" if better > worse else "worse"
        reading = f"{verdict}: more traces moved one way than chance allows"
    else:
        reading = "no evidence either way: within the traces' noise"
    lines.append(
        f"sign test p = {p:.3g}; change in errors, 95 % bootstrap interval {low:+.0f} to "
        f"{high:+.0f}: {reading}"
    )
    moved: Counter[str] = Counter()
    for cell in before.classes:
        moved.update(after.classes.get(cell, Counter()))
        moved.subtract(before.classes[cell])
    shifts = [(name, n) for name, n in moved.items() if n]
    if shifts:
        lines.append("by class: " + ", ".join(f"{n:+d} {name}" for name, n in sorted(shifts)))
    cells: Counter[str] = Counter()
    for (cell, _), d in zip(keys, diff, strict=True):
        cells[cell] += int(d)
    ranked = sorted((c for c in cells.items() if c[1]), key=lambda c: (-abs(c[1]), c[0]))
    for cell, d in ranked[:top]:
        lines.append(f"  {d:+d}  {cell}")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, nargs="+", help="count_errors --json output(s)")
    parser.add_argument("--after", type=Path, nargs="+", required=True)
    parser.add_argument("--top", type=int, default=8, help="cells that moved most to list")
    args = parser.parse_args(argv)
    try:
        lines = compare(load(args.before), load(args.after), args.top)
    except CompareError as exc:
        parser.error(str(exc))
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
