"""Does an audit's interval cover the door's true count ratio, and does its correction help?

    python -m benchmarks.audit --scenario abreast --seeds 20 --audit-minutes 30

Per seed: a simulated door (sensor_sim scenario) is counted by the engine; a hand count is
taken during the first `--audit-minutes` (a tap per true crossing, 0.3-1.5 s late, as a person
pressing a key), and the audit's ratio and 95% interval computed. The door's true ratio is the
device/true ratio over a long run (`--truth-hours`, its own seed). The correction (hand/device
from the audit) is then applied to a later hour (another seed) and its count error compared
with the raw one. Prints one row per seed and the coverage over all.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

from gateway.evaluation.replay import ReplayResult, replay
from gateway.installer.audit import DIRECTIONS, Tap, audit_taps, corrected
from gateway.protocol.trace import write_trace
from sensor_sim.generator import generate


def counted(scenario: str, seconds: float, seed: int, where: Path) -> ReplayResult:
    header, records = generate(scenario, seconds, seed)
    path = where / f"{scenario}-{seed}-{seconds:g}.jsonl"
    write_trace(path, header, records)
    return replay(path)


def true_ratio(run: ReplayResult, direction: str) -> float:
    truth = sum(1 for t in run.truth if t.direction == direction)
    return sum(1 for c in run.crossings if c.direction == direction) / truth


def audit_row(scenario: str, seed: int, audit_minutes: float, truth_hours: float, where: Path):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    run = counted(scenario, audit_minutes * 60, seed, where)
    door = run.header.doors[0].door
    start = min(t.t for t in run.truth)
    end = start + audit_minutes * 60
    taps = [
        Tap(t.t + rng.uniform(0.3, 1.5), t.direction)  # type: ignore[arg-type]
        for t in run.truth
        if t.direction in DIRECTIONS and t.door == door
    ]
    result = audit_taps(door, taps, run.crossings, start - 5, end + 5)
    long = counted(scenario, truth_hours * 3600, 10_000 + seed, where)
    later = counted(scenario, 3600, 20_000 + seed, where)
    rows = []
    for d in DIRECTIONS:
        r = result.ratio(d)
        truth = true_ratio(long, d)
        true_later = sum(1 for t in later.truth if t.direction == d)
        raw_later = sum(1 for c in later.crossings if c.direction == d)
        fixed = corrected(raw_later, r.factor)
        rows.append((d, r, truth, true_later, raw_later, fixed))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="abreast")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--audit-minutes", type=float, default=30)
    parser.add_argument("--truth-hours", type=float, default=3)
    args = parser.parse_args()
    covered = total = 0
    raw_err = fixed_err = 0.0
    print(
        f"scenario {args.scenario}: audit {args.audit_minutes:g} min, truth from "
        f"{args.truth_hours:g} h, later period 1 h"
    )
    print("seed dir  hand device  ratio  95% CI         true  | later: true  raw  corrected")
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for d, r, truth, true_later, raw_later, fixed in audit_row(
                args.scenario, seed, args.audit_minutes, args.truth_hours, Path(tmp)
            ):
                hit = r.low <= truth <= r.high
                covered += hit
                total += 1
                raw_err += abs(raw_later - true_later) / true_later
                fixed_err += abs(fixed - true_later) / true_later
                print(
                    f"{seed:>4} {d:<3} {r.hand:>5} {r.device:>6}  {r.ratio:.3f}  "
                    f"{r.low:.3f}-{r.high:.3f}  {truth:.3f}{' ' if hit else '*'} |"
                    f" {true_later:>11} {raw_later:>4} {fixed:>10}"
                )
    print(
        f"interval covers the true ratio: {covered}/{total}; later-hour count error: raw "
        f"{100 * raw_err / total:.1f}%, corrected {100 * fixed_err / total:.1f}% (mean |error|)"
    )


if __name__ == "__main__":
    main()
