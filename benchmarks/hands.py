"""Do a door's hand and bag blips cross both beams, or fall on each beam by itself?

    python -m benchmarks.hands TRACE.jsonl [TRACE.jsonl ...]
    python -m benchmarks.hands --scenario mall --scenario cr-busy [--minutes 30] [--seed 2026]
    python -m benchmarks.hands --cell "cleanroom 12 0.7 indep 0.35 walk" [--seed 1]

The two generators disagree here (docs/engine.md, "Where the two generators disagree"): our
simulator swings a hand past both beams, so its first touch and last leave go the body's way,
and the engine trusts them; issue 12's held-out blips fall on each beam independently, and
then their order across the beams says nothing. Which one a real door follows decides which
reading the engine should lean on, and any recorded trace of the door answers it, without a
hand count: a hand that crosses the door shows on both beams at the same end of the body.

For each door, the engine replays the trace; at each end (ahead, behind) of every clean
single crossing (one body per beam, torsos agreeing on the direction, neither stopped) it
notes whether each beam has a blip: a piece shorter than a body's (`blip_s`) within
`TORSO_NEAR_S` of the torso's break (`gateway.core.decide.hand_ends`, from which each door
also learns it: `engine._Door.learn_hands`). It prints the 2 x 2 table (outer blip, inner blip), the
phi coefficient (numpy's correlation of the two indicators), the odds ratio with its 95 %
interval (scipy), and a reading against what both generators measure (docs/engine.md): phi
0.67-0.83 where our simulator's hands cross both beams (doors up to 12 cm), 0.01-0.18 for
blips drawn on each beam independently (both generators, 5-30 cm). "independent" is what the
engine's door finds loose (`HAND_LOOSE_PHI`, `HAND_MIN`), over the whole trace where the door
keeps its last `HAND_SAMPLES` ends.

The engine's own `decide` reads the ends; this module only counts and prints.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from scipy.stats.contingency import odds_ratio

from gateway.core import decide as engine
from gateway.core.decide import Limits
from gateway.core.engine import HAND_LOOSE_PHI, HAND_MIN
from gateway.core.tuning import EngineConfig
from gateway.errors import ConfigError
from gateway.protocol.trace import Record, Tick, TraceHeader, open_trace

TOGETHER_PHI = 0.5
"""At or above: blips come together (our simulator's hands, doors up to 12 cm: 0.67-0.83).
Below the engine's `HAND_LOOSE_PHI` (0.3) they are loose, as the engine's door finds them."""


class HandsError(ValueError):
    """A trace, scenario or cell that cannot be read; the message says which."""


@dataclass(slots=True)
class Table:
    """Counts of crossing ends by (blip on outer, blip on inner)."""

    n: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    crossings: int = 0

    def add(self, outer: bool, inner: bool) -> None:
        self.n[2 * outer + inner] += 1

    @property
    def blip_ends(self) -> int:
        return self.n[1] + self.n[2] + self.n[3]

    def phi(self) -> float | None:
        """The correlation of the two beams' blip indicators over the ends; None when one
        beam's indicator never varies."""
        n00, n01, n10, n11 = self.n
        if min(n00 + n01, n10 + n11, n00 + n10, n01 + n11) == 0:
            return None
        outer = np.repeat([0, 0, 1, 1], self.n)
        inner = np.repeat([0, 1, 0, 1], self.n)
        return float(np.corrcoef(outer, inner)[0, 1])

    def odds(self) -> tuple[float, float, float] | None:
        """The odds ratio of a blip on the inner beam given one on the outer, with its 95 %
        confidence interval (conditional maximum likelihood, scipy); None without blips."""
        if self.blip_ends == 0:
            return None
        n00, n01, n10, n11 = self.n
        result = odds_ratio([[n11, n10], [n01, n00]])
        ci = result.confidence_interval(0.95)
        return float(result.statistic), float(ci.low), float(ci.high)

    def reading(self) -> str:
        phi = self.phi()
        if self.blip_ends < HAND_MIN or phi is None:
            return f"too few blips to tell (fewer than {HAND_MIN} ends with one)"
        if phi >= TOGETHER_PHI:
            return "together: a blip on one beam comes with one on the other (hands cross both)"
        if phi < HAND_LOOSE_PHI:
            return "independent: a blip on one beam says nothing of the other (engine: loose)"
        return "between: some blips cross both beams, many do not"


def tables(header: TraceHeader, records: Iterable[Record]) -> dict[str, Table]:
    """Per door, the blip table of the trace's clean single crossings as the engine decides
    them (the source-loaded engine, so that each episode's edges can be seen)."""
    from benchmarks.hostile_diff import _run

    ticks = [r for r in records if isinstance(r, Tick)]
    run = _run(header, ticks)
    config = EngineConfig()
    tuning = {d.door: Limits.of(config.for_door(d.door)) for d in header.doors}
    out: dict[str, Table] = {d.door: Table() for d in header.doors}
    for door, episodes in run.episodes.items():
        table, limits = out[door], tuning[door]
        for ep in episodes:
            edges = [(t, role, broken) for t, role, broken, _, _ in ep.edges]
            outcome = engine.decide(edges, limits, ep.typical, ep.crowd, ep.loose_hands)
            table.crossings += len(outcome.hand_ends) // 2
            for a, b in outcome.hand_ends:
                table.add(a, b)
    return out


def _trace(path: Path) -> tuple[TraceHeader, list[Record]]:
    try:
        with open_trace(path) as reader:
            return reader.header, [r for r in reader if r is not None]
    except OSError as exc:
        raise HandsError(f"{path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise HandsError(f"{path}: {exc}") from exc


def _scenario(name: str, minutes: float, seed: int) -> tuple[TraceHeader, list[Record]]:
    from benchmarks.accuracy import INDEPENDENT, _extra, _independent
    from sensor_sim.generator import generate

    if name in INDEPENDENT:
        return _independent(name, minutes * 60.0, seed)
    try:
        return generate(_extra().get(name, name), minutes * 60.0, seed)
    except ConfigError as exc:
        raise HandsError(f"--scenario {name!r}: {exc}") from exc


def _cell(text: str, minutes: float, seed: int) -> tuple[TraceHeader, list[Record]]:
    from benchmarks.robustness import SPEEDS, Job, _cleanroom, _sim

    usage = (
        f"--cell {text!r}: expected 'GENERATOR SPACING_CM BLIP_RATE ORDER GAP_RATE SPEED', "
        "e.g. 'cleanroom 12 0.7 indep 0.35 walk' (sim or cleanroom; indep or same; "
        f"speed one of {', '.join(SPEEDS)})"
    )
    parts = text.split()
    if len(parts) != 6:
        raise HandsError(usage)
    gen, spacing, blip, order, gap, speed = parts
    if gen not in ("sim", "cleanroom") or order not in ("indep", "same") or speed not in SPEEDS:
        raise HandsError(usage)
    try:
        numbers = float(spacing) / 100.0, float(blip), float(gap)
    except ValueError as exc:
        raise HandsError(usage) from exc
    spacing_m, rate, gaps = numbers
    job = Job("single", gen, spacing_m, rate, order == "same", gaps, speed, seed, minutes)
    return (_sim if gen == "sim" else _cleanroom)(job, False)


def lines(name: str, found: dict[str, Table]) -> list[str]:
    """The rows `main` prints for one source."""
    out: list[str] = []
    for door, t in found.items():
        phi = t.phi()
        odds = t.odds()
        n00, n01, n10, n11 = t.n
        ratio = "-"
        if odds is not None and phi is not None:
            ratio = f"{odds[0]:.2g} ({odds[1]:.2g}-{odds[2]:.2g})"
        out.append(
            f"{name:<30} {door:<10} {t.crossings:>9} {n00:>5} {n01:>5} {n10:>5} {n11:>5} "
            f"{'-' if phi is None else f'{phi:+.2f}':>6} {ratio:<20} {t.reading()}"
        )
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("traces", nargs="*", type=Path, help="doorcount-trace files")
    parser.add_argument("--scenario", action="append", default=[], help="a simulator preset")
    parser.add_argument("--cell", action="append", default=[], help="a robustness sweep cell")
    parser.add_argument("--minutes", type=float, default=30.0, help="per scenario or cell")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    if not (args.traces or args.scenario or args.cell):
        parser.error("give a trace file, --scenario NAME or --cell 'GEN CM RATE ORDER GAP SPEED'")
    if not math.isfinite(args.minutes) or args.minutes <= 0:
        parser.error(f"--minutes {args.minutes}: expected a positive number of minutes")
    print(
        f"{'source':<30} {'door':<10} {'crossings':>9} {'none':>5} {'inner':>5} {'outer':>5} "
        f"{'both':>5} {'phi':>6} {'odds ratio (95%)':<20} reading"
    )
    sources: list[tuple[str, Callable[[], tuple[TraceHeader, list[Record]]]]] = [
        (str(p), partial(_trace, p)) for p in args.traces
    ]
    sources += [
        (f"scenario {s}", partial(_scenario, s, args.minutes, args.seed)) for s in args.scenario
    ]
    sources += [(f"cell {c}", partial(_cell, c, args.minutes, args.seed)) for c in args.cell]
    for name, load in sources:
        try:
            header, records = load()
        except HandsError as exc:
            parser.error(str(exc))
        for line in lines(name, tables(header, records)):
            print(line)


if __name__ == "__main__":
    main()
