"""Error classes of the robustness sweep's cells, by generator: what kind of mistake, and where.

    python -m benchmarks.count_errors [--cls single] [--seeds 1 2] [--minutes 3] [--worst 8]
                                      [--examples 4] [--workers 2]

Runs the cells of `benchmarks.robustness` for one traffic class and sorts every error:

- flipped: a true crossing missed and a counted one the other way within 1 s of it;
- false passing (nested / shared): a `passing` crossing that matches no truth; nested when its
  partner has the same time (one break inside the other on the two beams), shared otherwise
  (two breaks on one beam under one on the other);
- phantom: any other unmatched crossing within 1 s of a true one the other way;
- double: an unmatched crossing within 1 s of a true one the same way (a person counted twice);
- late / early: a missed truth with an unmatched crossing the same way within 5 s (a timing
  error: a lingerer dated from the wrong end);
- missed: a true crossing with nothing counted near it; stray: an unmatched crossing with no
  truth near it.

`--examples N` prints the beam edges of N errors of each class from the worst cells (times
relative to the true crossing, from the ideal link's receive times), to read by eye, and under
each the episode as the engine decided it: its edges on the gateway's clock (clock alignment
applied), the door's learned length and traffic then, and what it counted. That line's edges,
`--typical` and `--crowd` replay in `python -m benchmarks.episode`, which prints every step
of the decision. (With examples the cells run on the engine loaded from its Python source, as
`benchmarks.hostile_diff` does: the same code as the compiled engine, slower.)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.episode import token
from benchmarks.hostile_diff import Decided, _episode_at, _run
from benchmarks.robustness import Job, _cleanroom, _sim, jobs
from gateway.core.decide import INNER, OUTER
from gateway.core.engine import Engine
from gateway.core.events import Crossing
from gateway.evaluation.scoring import match
from gateway.protocol.trace import Record, Tick, TraceHeader, Truth

WINDOW = 1.0
TIMING = 5.0


@dataclass(slots=True)
class CellErrors:
    job: Job
    truth: int = 0
    matched: int = 0
    denom: int = 0
    phantoms: int = 0
    classes: Counter[str] = field(default_factory=Counter)
    examples: list[tuple[str, str]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.matched / self.denom if self.denom else 1.0


def _edges(header: TraceHeader, ticks: list[Tick], door: str, t0: float) -> str:
    spec = next(d for d in header.doors if d.door == door)
    rows = []
    for tick in ticks:
        if abs(tick.rx - t0) > 2.0:
            continue
        if (tick.node, tick.beam) == (spec.outer.node, spec.outer.beam):
            role = OUTER
        elif (tick.node, tick.beam) == (spec.inner.node, spec.inner.beam):
            role = INNER
        else:
            continue
        rows.append((tick.rx - t0, role, tick.broken))
    rows.sort()
    return " ".join(token(role, broken, dt) for dt, role, broken in rows)


def classify(job: Job, header: TraceHeader, records: list[Record], keep: int) -> CellErrors:
    ticks = [r for r in records if isinstance(r, Tick)]
    truths = [r for r in records if isinstance(r, Truth) and r.direction in ("in", "out")]
    decided: dict[str, list[Decided]] = {}
    if keep:  # the engine from source, to show the episodes it decided
        run = _run(header, ticks)
        decided = run.episodes
        events = [
            Crossing(d, "in" if way == "in" else "out", t, kind, 1.0, t)
            for d, way, t, kind in run.crossings
        ]
    else:
        events = [e for e in Engine(header.doors).run(ticks) if isinstance(e, Crossing)]
    out = CellErrors(job)
    for spec in header.doors:
        tr = [t for t in truths if t.door == spec.door]
        cr = [c for c in events if c.door == spec.door]
        door = Door(header, ticks, spec.door, tr, cr, keep, decided.get(spec.door, []))
        _door(out, door)
    return out


def _decided(episodes: list[Decided], t0: float) -> str:
    """The engine's episode nearest `t0`, as `benchmarks.episode` reads it."""
    near = _episode_at(episodes, t0)
    if not near:
        return "engine: no episode decided near it"
    ep = min(near, key=lambda e: abs((e.edges[0][0] + e.edges[-1][0]) / 2 - t0))
    edges = " ".join(token(role, broken, t - t0) for t, role, broken, _, _ in ep.edges)
    got = ", ".join(f"{d} {kind} {(t - t0) * 1000:+.0f}" for d, t, kind in ep.crossings)
    typical = "" if ep.typical is None else f" --typical {ep.typical:.3f}"
    loose = " --loose-hands" if ep.loose_hands else ""
    lag = "" if ep.walk_lag is None else f" --walk-lag {ep.walk_lag * 1000:.1f}"
    return (
        f"engine counted [{got or 'nothing'}]:{typical} --crowd {ep.crowd:.3f}{loose}{lag} "
        f'"{edges}"'
    )


@dataclass(frozen=True, slots=True)
class Door:
    header: TraceHeader
    ticks: list[Tick]
    door: str
    truth: list[Truth]
    counted: list[Crossing]
    keep: int
    decided: list[Decided] = field(default_factory=list)
    """The episodes the engine decided at this door (with examples only)."""


def _door(out: CellErrors, d: Door) -> None:
    """Match one door's crossings per direction, then sort its errors into `out`."""
    out.truth += len(d.truth)
    missed: list[Truth] = []
    false: list[Crossing] = []
    for direction in ("in", "out"):
        t_dir = [t for t in d.truth if t.direction == direction]
        c_dir = [c for c in d.counted if c.direction == direction]
        m, f, pairs = match([t.t for t in t_dir], [c.t for c in c_dir], WINDOW)
        out.matched += len(pairs)
        out.denom += max(len(t_dir), len(c_dir))
        missed += [t_dir[k] for k in m]
        false += [c_dir[k] for k in f]

    def note(name: str, t0: float, what: str) -> None:
        out.classes[name] += 1
        if sum(1 for n, _ in out.examples if n == name) < d.keep:
            text = f"{what}: {_edges(d.header, d.ticks, d.door, t0)}"
            out.examples.append((name, f"{text}\n          {_decided(d.decided, t0)}"))

    out.phantoms += sum(
        1
        for c in false
        if any(t.direction != c.direction and abs(t.t - c.t) <= WINDOW for t in d.truth)
    )
    used_false: set[int] = set()
    used_missed: set[int] = set()
    # flipped: a missed truth and a false count the other way, paired
    for mi, t in enumerate(missed):
        for fi, c in enumerate(false):
            if fi in used_false or c.direction == t.direction or abs(c.t - t.t) > WINDOW:
                continue
            used_false.add(fi)
            used_missed.add(mi)
            note(f"flipped ({c.kind})", t.t, f"truth {t.direction} {t.kind} -> {c.kind}")
            break
    for fi, c in enumerate(false):
        if fi not in used_false:
            name, ref, kind = _false_class(c, d, missed, used_missed)
            note(name, ref, f"counted {c.direction} {c.kind} at {c.t - ref:+.2f} s, truth {kind}")
    for mi, t in enumerate(missed):
        if mi not in used_missed:
            note(f"missed ({t.kind})", t.t, f"truth {t.direction} {t.kind}")


def _false_class(
    c: Crossing, d: Door, missed: list[Truth], used_missed: set[int]
) -> tuple[str, float, str]:
    """(error class, time to show its edges around, nearest truth's kind) of a false count."""
    opposite = [t for t in d.truth if t.direction != c.direction and abs(t.t - c.t) <= WINDOW]
    same = [t for t in d.truth if t.direction == c.direction and abs(t.t - c.t) <= WINDOW]
    late = [
        mi
        for mi, t in enumerate(missed)
        if mi not in used_missed and t.direction == c.direction and abs(t.t - c.t) <= TIMING
    ]
    near = (opposite or same)[0] if opposite or same else None
    ref = near.t if near is not None else c.t
    kind = near.kind if near is not None else "-"
    if c.kind == "passing":
        partner = any(o is not c and o.kind == "passing" and o.t == c.t for o in d.counted)
        return ("false passing nested" if partner else "false passing shared"), ref, kind
    if late:
        used_missed.add(late[0])
        return f"timing ({missed[late[0]].kind})", missed[late[0]].t, kind
    if opposite:
        return f"phantom ({c.kind})", ref, kind
    if same:
        return f"double ({c.kind})", ref, kind
    return f"stray ({c.kind})", ref, kind


def run_job(args: tuple[Job, int]) -> CellErrors:
    job, keep = args
    make = _sim if job.gen == "sim" else _cleanroom
    header, records = make(job, hostile=False)
    return classify(job, header, records, keep)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cls", default="single", choices=("single", "busy", "hazard"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--worst", type=int, default=8, help="cells to list")
    parser.add_argument("--examples", type=int, default=0, help="edge dumps per class")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--gen", choices=("sim", "cleanroom"), default=None)
    parser.add_argument("--json", type=Path, help="write per-cell figures here (to compare runs)")
    args = parser.parse_args(argv)
    todo = [
        (j, args.examples)
        for j in jobs(args.seeds, args.minutes)
        if j.cls == args.cls and (args.gen is None or j.gen == args.gen)
    ]
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        cells = list(pool.imap_unordered(run_job, todo, chunksize=2))
    by_cell: dict[tuple[object, ...], list[CellErrors]] = {}
    for c in cells:
        by_cell.setdefault(c.job.cell, []).append(c)

    def acc(cs: list[CellErrors]) -> float:
        d = sum(c.denom for c in cs)
        return sum(c.matched for c in cs) / d if d else 1.0

    for gen in ("sim", "cleanroom"):
        mine = [c for c in cells if c.job.gen == gen]
        if not mine:
            continue
        total: Counter[str] = Counter()
        for c in mine:
            total.update(c.classes)
        truth = sum(c.truth for c in mine)
        errors = sum(total.values())
        figures = [acc(cs) for cell, cs in by_cell.items() if cell[0] == gen]
        print(
            f"{gen}: {len(mine)} traces, {truth} true crossings; cells {len(figures)} worst "
            f"{min(figures):.4f} mean {sum(figures) / len(figures):.4f} phantoms "
            f"{sum(c.phantoms for c in mine)}; {errors} errors by class:"
        )
        for name, n in sorted(total.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"  {n:>5}  {name}")
    if args.json:
        rows = [
            {
                "cls": args.cls,
                "cell": cs[0].job.label(),
                "matched": sum(c.matched for c in cs),
                "denom": sum(c.denom for c in cs),
                "classes": dict(sum((c.classes for c in cs), Counter[str]())),
                "seeds": {str(c.job.seed): sum(c.classes.values()) for c in cs},
            }
            for cs in by_cell.values()
        ]
        args.json.write_text(json.dumps(sorted(rows, key=lambda r: str(r["cell"])), indent=1))
    worst = sorted(by_cell.values(), key=acc)[: args.worst]
    print(f"worst {len(worst)} cells:")
    for cs in worst:
        total = Counter[str]()
        for c in cs:
            total.update(c.classes)
        top = ", ".join(f"{name} {n}" for name, n in total.most_common(4))
        print(f"  {acc(cs):.4f}  {cs[0].job.label()}: {top}")
        if args.examples:
            for c in cs:
                for name, text in c.examples:
                    print(f"      [{name}] seed {c.job.seed} {text}")


if __name__ == "__main__":
    main()
