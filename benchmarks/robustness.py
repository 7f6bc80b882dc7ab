"""Robustness sweep: the engine over a grid of doorway knobs, worst cells printed, not averaged.

    python -m benchmarks.robustness [--seeds 1 2] [--minutes 3] [--workers 2] [--small]

Grid: generator (our simulator, the independent `benchmarks.cleanroom`) x beam spacing x
blip rate x blip order (per beam independent, or the same on both beams) x intra-body gap
rate x walking-speed band x seeds; odd seeds put both beams on one dual-beam node, even seeds
on two single-beam nodes. Traffic classes:

- single file: sparse single walkers on an ideal link;
- busy: tailgating (gaps >= 0.15 s), U-turns into one or both beams with a 0.2-1.5 s pause,
  lingerers, on an ideal link;
- hostile link: the busy traffic of the same cell on a hostile link (drift, retransmissions,
  disconnects with backlogs, duplicates), compared with the ideal link;
- doorway hazards: single file with one researched hazard at a time (docs/simulator.md).

Per class: the worst cell, the mean over cells, and phantoms: counted crossings that match no
truth and lie within 1 s of a true crossing in the opposite direction (a person counted twice,
once each way). Extras are all counted crossings that match no truth. Single file and busy
also count their cells below issue 12's target (`TARGETS`).
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.core.engine import Engine
from gateway.core.events import Crossing
from gateway.evaluation.scoring import Counted, score
from gateway.protocol.trace import Record, Tick, TraceHeader, Truth, open_trace
from sensor_sim.generator import generate
from sensor_sim.scenarios import Clocks, Doors, Faults, Hazards, Link, Mix, Scenario, Traffic

SPACINGS = (0.05, 0.12, 0.30)
BLIPS = ((0.0, False), (0.35, False), (0.35, True), (0.7, False), (0.7, True))
"""(rate per pass and beam, same on both beams)."""
GAPS = (0.0, 0.35)
SPEEDS = {"slow": (0.45, 0.9), "walk": (0.9, 1.7), "brisk": (1.7, 2.8)}
GENERATORS = ("sim", "cleanroom")
ACCEPT_SHORTFALL = 0.003
"""Issue 12 accepts a hostile link within this of the same traffic on an ideal link."""
TARGETS = {"single": 0.995, "busy": 0.98}
"""Issue 12's accuracy for every cell of a class; the summary counts the cells below it."""
HAZARDS: dict[str, dict[str, float]] = {
    "flicker": {"flicker": 60.0},
    "door leaf": {"door_leaf": 0.5},
    "slams": {"slams": 60.0},
    "leaning": {"leans": 20.0},
    "reflective": {"reflective": 0.3},
    "children": {"children": 0.5},
}


@dataclass(frozen=True, slots=True)
class Job:
    cls: str  # single / busy / hostile / hazard
    gen: str
    spacing: float
    blip: float
    same: bool
    gap: float
    speed: str
    seed: int
    minutes: float
    hazard: str = ""

    @property
    def cell(self) -> tuple[Any, ...]:
        return (self.gen, self.spacing, self.blip, self.same, self.gap, self.speed, self.hazard)

    def label(self) -> str:
        if self.hazard:
            return f"{self.gen} {self.spacing * 100:g} cm, {self.hazard}"
        order = "same" if self.same else "indep"
        return (
            f"{self.gen} {self.spacing * 100:g} cm, blips {self.blip:g} {order}, "
            f"gaps {self.gap:g}, {self.speed}"
        )


@dataclass(slots=True)
class Result:
    job: Job
    link: str
    truth: int
    matched: int
    denom: int
    extras: int
    phantoms: int


def _sim(job: Job, hostile: bool) -> tuple[TraceHeader, list[Record]]:
    lo, hi = SPEEDS[job.speed]
    if job.cls in {"busy", "hostile"}:
        mix = Mix(single=0.55, tailgate=0.25, uturn=0.12, linger=0.08)
        rate = 16.0
    else:
        mix = Mix(single=1.0)
        rate = 6.0
    h = HAZARDS.get(job.hazard, {})
    traffic = Traffic(
        rate_per_min=rate,
        mix=mix,
        speed_mps=(lo + hi) / 2,
        speed_sd=(hi - lo) / 2,
        speed_range=(lo, hi),
        linger_s=(1.0, 10.0),
    )
    hz = Hazards(
        blip_ahead_p=job.blip,
        blip_behind_p=job.blip,
        blip_same=job.same,
        body_gap_p=job.gap,
        flicker_per_hour=h.get("flicker", 0.0),
        door_leaf_p=h.get("door_leaf", 0.0),
        slams_per_hour=h.get("slams", 0.0),
        leans_per_hour=h.get("leans", 0.0),
        reflective_p=h.get("reflective", 0.0),
        child_share=h.get("children", 0.0),
    )
    if hostile:
        clocks = Clocks(drift_ppm=50.0, uptime_s=(60.0, 30 * 86400.0))
        link = Link(
            interval_ms=(30.0, 50.0),
            retransmit_p=0.08,
            hiccup_p=0.01,
            disconnects_per_hour=30.0,
            disconnect_s=(1.0, 15.0),
            resume_overlap_p=0.7,
            duplicate_p=0.003,
        )
    else:
        clocks = Clocks(drift_ppm=0.0, wander_ppm=0.0)
        link = Link(
            interval_ms=(7.5, 7.5), retransmit_p=0.0, latency_ms=1.0, jitter_ms=0.0, hiccup_p=0.0
        )
    sc = Scenario(
        f"robust-{job.cls}",
        "robustness sweep cell",
        traffic,
        Doors(spacing_m=(job.spacing, job.spacing), layout="dual" if job.seed % 2 else "pair"),
        clocks,
        link,
        Faults(glitches_per_hour=20.0),
        hz,
    )
    header, records = generate(sc, job.minutes * 60, job.seed)
    return header, list(records)


def _cleanroom(job: Job, hostile: bool) -> tuple[TraceHeader, list[Record]]:
    from benchmarks import cleanroom

    lo, hi = SPEEDS[job.speed]
    h = HAZARDS.get(job.hazard, {})
    over: dict[str, Any] = {
        "spacing": (job.spacing, job.spacing),
        "dual": job.seed % 2 == 1,
        "speed": (lo, hi),
        "p_blip_ahead": job.blip,
        "p_blip_behind": job.blip,
        "blip_same": job.same,
        "p_body_gap": job.gap,
        "flicker_per_hour": h.get("flicker", 0.0),
        "p_door_leaf": h.get("door_leaf", 0.0),
        "slams_per_hour": h.get("slams", 0.0),
        "leans_per_hour": h.get("leans", 0.0),
        "p_reflective": h.get("reflective", 0.0),
        "p_child": h.get("children", 0.0),
    }
    if job.cls in ("busy", "hostile"):
        name = "cr-busy"
        over.update(p_linger=0.04, uturn_pause_s=(0.2, 1.5), p_uturn=0.08)
    else:
        name = "cr-single"
        over.update(rate_per_min=6.0)
    if hostile:
        over.update(
            ci_ms=(30.0, 50.0),
            p_retx=0.12,
            p_dup=0.005,
            disconnects_per_hour=30.0,
            disconnect_s=(1.0, 10.0),
            drift_ppm=50.0,
            skew=True,
        )
    trace = cleanroom.generate(
        name, job.minutes * 60, job.seed, ideal_ble=not hostile, overrides=over
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.jsonl"
        cleanroom.write(trace, path)
        with open_trace(path) as reader:
            return reader.header, [r for r in reader if r is not None]


def _score(job: Job, link: str, header: TraceHeader, records: list[Record]) -> Result:
    ticks = [r for r in records if isinstance(r, Tick)]
    truth = [r for r in records if isinstance(r, Truth)]
    events = Engine(header.doors).run(ticks)
    counted = [Counted(e.door, e.direction, e.t) for e in events if isinstance(e, Crossing)]
    doors = [d.door for d in header.doors]
    sc = score(doors, truth, counted)
    matched = denom = extras = phantoms = 0
    for by_dir in sc.cells.values():
        for direction, cell in by_dir.items():
            other = by_dir["out" if direction == "in" else "in"]
            matched += cell.matched
            denom += max(cell.truth, cell.counted)
            extras += len(cell.false_at)
            phantoms += sum(
                1 for t in cell.false_at if any(abs(t - u) <= 1.0 for u in other.truth_at)
            )
    return Result(job, link, sc.truth_total, matched, denom, extras, phantoms)


def run_job(job: Job) -> list[Result]:
    make = _sim if job.gen == "sim" else _cleanroom
    if job.cls == "hostile":
        return [
            _score(job, "ideal", *make(job, hostile=False)),
            _score(job, "hostile", *make(job, hostile=True)),
        ]
    return [_score(job, "ideal", *make(job, hostile=False))]


def jobs(seeds: Sequence[int], minutes: float, small: bool = False) -> Iterator[Job]:
    spacings = (0.05, 0.30) if small else SPACINGS
    blips = BLIPS[:2] if small else BLIPS
    gaps = GAPS[-1:] if small else GAPS
    speeds = ("brisk",) if small else tuple(SPEEDS)
    for cls in ("single", "busy", "hostile"):
        for gen, spacing, (blip, same), gap, speed, seed in itertools.product(
            GENERATORS, spacings, blips, gaps, speeds, seeds
        ):
            yield Job(cls, gen, spacing, blip, same, gap, speed, seed, minutes)
    hazards = list(HAZARDS)[:2] if small else list(HAZARDS)
    for gen, spacing, hazard, seed in itertools.product(GENERATORS, spacings, hazards, seeds):
        yield Job("hazard", gen, spacing, 0.35, False, 0.35, "walk", seed, minutes, hazard)


@dataclass(slots=True)
class Summary:
    name: str
    cells: int
    worst: float
    worst_cell: str
    mean: float
    phantoms: int
    extras: int
    crossings: int
    target: float | None = None
    below: int = 0
    """Cells under `target` (issue 12's figure for the class), where there is one."""

    def line(self) -> str:
        below = "" if self.target is None else f"  below {self.target:g}: {self.below}"
        return (
            f"{self.name:<16} cells {self.cells:>3}  worst {self.worst:.4f} ({self.worst_cell})  "
            f"mean {self.mean:.4f}  phantoms {self.phantoms}  extras {self.extras}  "
            f"crossings {self.crossings}{below}"
        )


def summarise(results: list[Result]) -> list[Summary]:
    """Per traffic class: cells pooled over seeds; hostile link as its shortfall from ideal."""
    out: list[Summary] = []
    by: dict[tuple[str, str], dict[tuple[Any, ...], list[Result]]] = {}
    for r in results:
        by.setdefault((r.job.cls, r.link), {}).setdefault(r.job.cell, []).append(r)

    def acc(rs: list[Result]) -> float:
        denom = sum(r.denom for r in rs)
        return sum(r.matched for r in rs) / denom if denom else 1.0

    names = {"single": "single file", "busy": "busy", "hazard": "doorway hazards"}
    for cls in ("single", "busy", "hazard"):
        cells = by.get((cls, "ideal"), {})
        if not cells:
            continue
        figures = {cell: acc(rs) for cell, rs in cells.items()}
        worst = min(figures, key=lambda c: figures[c])
        rs_all = [r for rs in cells.values() for r in rs]
        out.append(
            Summary(
                names[cls],
                len(figures),
                figures[worst],
                cells[worst][0].job.label(),
                sum(figures.values()) / len(figures),
                sum(r.phantoms for r in rs_all),
                sum(r.extras for r in rs_all),
                sum(r.truth for r in rs_all),
                TARGETS.get(cls),
                sum(1 for v in figures.values() if v < TARGETS.get(cls, 0.0)),
            )
        )
    hostile, ideal = by.get(("hostile", "hostile"), {}), by.get(("hostile", "ideal"), {})
    if hostile:
        short = {cell: acc(ideal[cell]) - acc(rs) for cell, rs in hostile.items()}
        worst = max(short, key=lambda c: short[c])
        rs_all = [r for rs in hostile.values() for r in rs]
        out.append(
            Summary(
                "hostile link",
                len(short),
                acc(hostile[worst]),
                f"{hostile[worst][0].job.label()}; ideal link {acc(ideal[worst]):.4f}",
                sum(acc(rs) for rs in hostile.values()) / len(hostile),
                sum(r.phantoms for r in rs_all),
                sum(r.extras for r in rs_all),
                sum(r.truth for r in rs_all),
            )
        )
        gap = sum(short.values()) / len(short)
        over = sum(1 for v in short.values() if v > ACCEPT_SHORTFALL)
        out.append(
            Summary(
                "hostile - ideal",
                len(short),
                -short[worst],
                f"{hostile[worst][0].job.label()}; {over} cells more than "
                f"{ACCEPT_SHORTFALL:g} below ideal",
                -gap,
                0,
                0,
                0,
            )
        )
    return out


def sweep(seeds: Sequence[int], minutes: float, workers: int, small: bool = False) -> list[Summary]:
    todo = list(jobs(seeds, minutes, small))
    results: list[Result] = []
    if workers <= 1:
        for job in todo:
            results.extend(run_job(job))
    else:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for rs in pool.imap_unordered(run_job, todo, chunksize=4):
                results.extend(rs)
    return summarise(results)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--minutes", type=float, default=3.0, help="trace length per cell")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--small", action="store_true", help="a small grid (a quick check)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    summaries = sweep(args.seeds, args.minutes, args.workers, args.small)
    print(
        f"robustness sweep ({args.minutes:g} min per trace, seeds {args.seeds}; "
        f"{time.monotonic() - started:.0f} s):"
    )
    for s in summaries:
        print("  " + s.line())


if __name__ == "__main__":
    main()
