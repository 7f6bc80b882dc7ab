"""Where the hostile link loses against the ideal link: the same traffic, both links, diffed.

    python -m benchmarks.hostile_diff [--seeds 1 2] [--minutes 3] [--worst 8] [--examples 3]
                                      [--workers 2] [--gen sim|cleanroom] [--spacing 0.05]
                                      [--speed slow|walk|brisk]

For each hostile cell of `benchmarks.robustness`, runs the engine over four traces and scores
each against the truth:

- A, the ideal-link trace (the sweep's reference);
- R, the hostile trace's own edges delivered perfectly: each tick once, in order, 1 ms after
  it happened. The links are generated with different node clocks, so their receivers sample
  the same bodies on different grids (our simulator: up to a sample period, 0.25-1 ms, apart),
  and the independent generator's "ideal" link still has drifting clocks and a connection
  interval of its own; A - R is what differs without the hostile link;
- C, the hostile delivery (late, repeated, reordered, backlogs) with the engine's clock
  alignment replaced by the true clocks: R - C is what de-duplication, episodes and holds do;
- H, the hostile trace as the sweep runs it: C - H is the clock alignment.

Each edge's true time comes from the ideal link (both links carry the same edges per node in
the same order; the ideal link's lower envelope of rx - node time, fitted over the whole
trace, maps its node time to the gateway's), and the hostile node's true clock is the
least-squares line through those (residual: the sampling grids' difference).

Then lists the true crossings whose outcome differs between A and H (matched on one link,
missed on the other) and the counted crossings false on one link only, and classifies each:

- not the link: R has H's outcome (the same edges delivered perfectly decide the same way);
- clock: C has R's outcome (with the true clocks the hostile delivery decides as R);
- delivery, then from the engine's decided episodes: early (an episode decided before the
  rest of its edges arrived), split (cut in two), merged, edges differ (masked, stuck or lost),
  clock (same episodes, beams misaligned), or context (same edges, door state differs).

The engine is loaded from its Python source so its decisions can be observed; the same code
as the compiled one. `--examples N` prints, for N differences of each class from the worst
cells, both links' episodes around it: per edge the beam (O/I), break (v) or clear (^), the
time as the engine aligned it relative to the true crossing, and for the hostile link the
true time and the delivery delay; with the door's learned typical length and traffic.
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import multiprocessing
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks.episode import token
from benchmarks.robustness import Job, _cleanroom, _sim, jobs
from gateway.evaluation.scoring import match
from gateway.protocol.trace import Tick, TraceHeader, Truth

WINDOW = 1.0
SIGN_EPS = 0.004
NEAR = 2.0
MAX_FIT_MS = 2.0
"""The two links sample the same edges on grids up to a sample period (<= 1 ms) apart: a
larger residual of the true-clock fit means the edges were paired wrongly."""


def _pure_engine() -> ModuleType:
    """gateway/core/engine.py loaded from source (the installed one may be compiled)."""
    name = "_diag_engine"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).resolve().parent.parent / "gateway" / "core" / "engine.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@dataclass(slots=True)
class Decided:
    """One decided episode: its edges (aligned time, role, broken, node, node_s), when."""

    edges: list[tuple[float, int, bool, str, float]]
    now: float
    crossings: list[tuple[str, float, str]]
    typical: float | None = None
    crowd: float = 0.0
    loose_hands: bool = False
    walk_lag: float | None = None


@dataclass(slots=True)
class Run:
    crossings: list[tuple[str, str, float, str]]  # door, direction, t, kind
    episodes: dict[str, list[Decided]]
    masked: int
    duplicates: int


class _Oracle:
    """A clock model that knows the node's true clock: node time -> true time, linear."""

    def __init__(self, a: float, b: float) -> None:
        self._offset = a
        self.drift = b - 1.0
        self.points = 10**6

    def observe(self, node_s: float, rx: float) -> None:
        pass

    def to_gateway(self, node_s: float) -> float:
        return node_s + self._offset + self.drift * node_s


def _run(
    header: TraceHeader,
    ticks: list[Tick],
    oracle: dict[tuple[str, int], tuple[float, float]] | None = None,
) -> Run:
    mod = _pure_engine()
    if oracle is not None:
        real_add = mod._add_boot  # type: ignore[attr-defined]

        def add_boot(node: Any, boot_id: int) -> Any:
            boot = real_add(node, boot_id)
            a, b = oracle.get((node.name, boot_id), (0.0, 1.0))
            boot.clock = _Oracle(a, b)
            return boot

        mod._add_boot = add_boot  # type: ignore[attr-defined]
    try:
        return _run_engine(mod, header, ticks)
    finally:
        if oracle is not None:
            mod._add_boot = real_add  # type: ignore[attr-defined]


def _run_engine(mod: ModuleType, header: TraceHeader, ticks: list[Tick]) -> Run:
    engine = mod.Engine(header.doors)
    episodes: dict[str, list[Decided]] = {}
    original = mod.Engine._decide

    def spy(self: Any, door: Any, episode: Any, events: list[Any], now: float) -> None:
        before = len(events)
        edges = sorted(
            (boot.clock.to_gateway(node_s), role, broken, boot.node, node_s)
            for _, role, broken, boot, node_s in episode.edges
        )
        typical = door.typical
        crowd = door.crowd(edges[0][0]) if edges else 0.0
        loose = door.loose_hands
        walk_lag = door.walk_lag
        original(self, door, episode, events, now)
        made = [
            (e.direction, e.t, e.kind) for e in events[before:] if type(e).__name__ == "Crossing"
        ]
        episodes.setdefault(door.spec.door, []).append(
            Decided(edges, now, made, typical, crowd, loose, walk_lag)
        )

    engine._decide = spy.__get__(engine)
    events = engine.run(ticks)
    crossings = [
        (e.door, e.direction, e.t, e.kind) for e in events if type(e).__name__ == "Crossing"
    ]
    return Run(crossings, episodes, engine.stats.masked, engine.stats.duplicates)


def _envelope(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(c, d): the line c + d x under all points closest to them on average (lower hull edge
    spanning the mean x), fitted offline over the whole trace."""
    pts = sorted(set(points))
    hull: list[tuple[float, float]] = []
    for x, y in pts:
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1) <= 0:
                hull.pop()
            else:
                break
        hull.append((x, y))
    d = 0.0
    if len(hull) >= 2:
        mean_x = sum(x for x, _ in pts) / len(pts)
        k = next((i for i, (x, _) in enumerate(hull) if x >= mean_x), len(hull) - 1)
        k = min(max(k, 1), len(hull) - 1)
        (x1, y1), (x2, y2) = hull[k - 1], hull[k]
        d = (y2 - y1) / (x2 - x1) if x2 > x1 else 0.0
    return min(y - d * x for x, y in pts), d


def _fit(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares true = a + b * node_s."""
    n = len(pairs)
    mx = sum(x for x, _ in pairs) / n
    my = sum(y for _, y in pairs) / n
    sxx = sum((x - mx) ** 2 for x, _ in pairs)
    b = sum((x - mx) * (y - my) for x, y in pairs) / sxx if sxx > 0 else 1.0
    return my - b * mx, b


def _true_times(
    ideal: list[Tick], hostile: list[Tick]
) -> dict[tuple[str, float], tuple[tuple[str, float], float]]:
    """(node, node seconds) of each hostile edge -> (the same edge's key on the ideal link,
    its true time).

    Both links carry the same edges per node and beam in the same order. The ideal link
    delivers every tick within a connection interval, so the lower envelope of its rx - node
    time over the whole trace (a line: the ideal link's clocks may drift) gives each edge's
    time, plus the latency floor, the same on every node.
    """
    out: dict[tuple[str, float], tuple[tuple[str, float], float]] = {}
    per: dict[str, list[list[tuple[int, int, int, bool]]]] = {}
    points: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for link, ticks in ((0, ideal), (1, hostile)):
        seen: set[tuple[str, int, int]] = set()
        for t in ticks:
            if (t.node, t.boot, t.seq) in seen:
                continue
            seen.add((t.node, t.boot, t.seq))
            per.setdefault(t.node, [[], []])[link].append((t.boot, t.node_us, t.beam, t.broken))
            if link == 0:
                x = t.node_us * 1e-6
                points.setdefault((t.node, t.boot), []).append((x, t.rx - x))
    lines = {nb: _envelope(ps) for nb, ps in points.items()}
    for node, (ideal_edges, hostile_edges) in per.items():
        ideal_edges.sort()
        hostile_edges.sort()
        # An edge here and there may differ (a glitch drawn on one link only): align.
        sm = difflib.SequenceMatcher(
            None,
            [e[2:] for e in ideal_edges],
            [e[2:] for e in hostile_edges],
            autojunk=False,
        )
        for i, j, n in sm.get_matching_blocks():
            for ie, he in zip(ideal_edges[i : i + n], hostile_edges[j : j + n], strict=True):
                c, d = lines[(node, ie[0])]
                true = ie[1] * 1e-6 * (1 + d) + c
                out[(node, he[1] * 1e-6)] = ((node, ie[1] * 1e-6), true)
    return out


@dataclass(slots=True)
class Diff:
    cls: str
    text: str


@dataclass(slots=True)
class CellDiff:
    job: Job
    ideal_matched: int = 0
    ideal_denom: int = 0
    hostile_matched: int = 0
    hostile_denom: int = 0
    r_matched: int = 0
    r_denom: int = 0
    c_matched: int = 0
    c_denom: int = 0
    fit_ms: float = 0.0
    """Largest residual of the true-clock fit (the two links' sampling grids differ by up to
    a sample period, ~1 ms; more means the edges were paired wrongly)."""
    unfitted: int = 0
    same_truth: bool = True
    classes: Counter[str] = field(default_factory=Counter)
    examples: list[Diff] = field(default_factory=list)

    def shortfall(self) -> float:
        a = self.ideal_matched / self.ideal_denom if self.ideal_denom else 1.0
        b = self.hostile_matched / self.hostile_denom if self.hostile_denom else 1.0
        return a - b


def _outcome(
    truth: list[Truth], crossings: list[tuple[str, str, float, str]]
) -> tuple[int, int, set[int], set[int]]:
    """(matched, denom, indices of matched truths, indices of false crossings)."""
    matched = denom = 0
    ok: set[int] = set()
    false: set[int] = set()
    doors = sorted({t.door for t in truth} | {c[0] for c in crossings})
    for door in doors:
        for direction in ("in", "out"):
            ti = [k for k, t in enumerate(truth) if t.door == door and t.direction == direction]
            ci = [k for k, c in enumerate(crossings) if c[0] == door and c[1] == direction]
            _, f, pairs = match([truth[k].t for k in ti], [crossings[k][2] for k in ci], WINDOW)
            matched += len(pairs)
            denom += max(len(ti), len(ci))
            ok.update(ti[i] for i, _ in pairs)
            false.update(ci[j] for j in f)
    return matched, denom, ok, false


def _episode_at(episodes: list[Decided], t: float) -> list[Decided]:
    return [e for e in episodes if e.edges and e.edges[0][0] - NEAR <= t <= e.edges[-1][0] + NEAR]


def _key(e: tuple[float, int, bool, str, float]) -> tuple[str, float]:
    return (e[3], e[4])


def _fmt(
    ep: Decided,
    t0: float,
    rx: dict[tuple[str, float], float],
    true: dict[tuple[str, float], tuple[tuple[str, float], float]],
) -> str:
    parts = []
    for t, role, broken, node, node_s in ep.edges:
        s = token(role, broken, t - t0)
        k = (node, node_s)
        if k in true:
            tt = true[k][1]
            s += f"(true{(tt - t0) * 1000:+.0f}"
            if k in rx:
                s += f",late{(rx[k] - tt) * 1000:.0f}"
            s += ")"
        parts.append(s)
    got = ",".join(f"{d}/{kind}@{(t - t0):+.2f}" for d, t, kind in ep.crossings) or "nothing"
    typical = "-" if ep.typical is None else f"{ep.typical:.3f}"
    head = f"decided {(ep.now - t0):+.2f}s (typical {typical}, crowd {ep.crowd:.3f}) -> {got}: "
    return head + " ".join(parts)


def _classify(  # noqa: PLR0911 - one return per class
    hostile_eps: list[Decided],
    ideal_eps: list[Decided],
    true: dict[tuple[str, float], tuple[tuple[str, float], float]],
    arrived: dict[tuple[str, float], float],
) -> str:
    if not hostile_eps:
        return "other (no hostile episode)"
    i_sets = [sorted(_key(e) for e in ep.edges) for ep in ideal_eps]
    h_sets = [sorted(true.get(_key(e), (_key(e), 0.0))[0] for e in ep.edges) for ep in hostile_eps]
    if h_sets != i_sets:
        flat_h = {k for x in h_sets for k in x}
        flat_i = {k for x in i_sets for k in x}
        # an ideal episode whose edges the hostile run decided in parts, and a part was
        # decided before the rest of it arrived
        back = {v[0]: k for k, v in true.items()}
        for ideal_set in i_sets:
            parts = [
                ep for ep, hs in zip(hostile_eps, h_sets, strict=True) if set(hs) & set(ideal_set)
            ]
            if len(parts) > 1:
                first = min(parts, key=lambda ep: ep.now)
                if any(arrived.get(back.get(k, k), -1.0) > first.now for k in ideal_set):
                    return "early (part decided before the rest arrived)"
                return "split (episode cut in two)"
        if flat_h == flat_i:
            return "merged (episodes joined)"
        return "edges differ (masked, stuck or lost)"
    # same episodes, same edges: alignment?
    worst = 0.0
    for ep in hostile_eps:
        errs = [e[0] - true[_key(e)][1] for e in ep.edges if _key(e) in true]
        if errs:
            worst = max(worst, max(errs) - min(errs))
    if worst > SIGN_EPS:
        return "clock (beams misaligned > 4 ms)"
    if worst > 0.001:
        return "clock (beams misaligned 1-4 ms)"
    return "context (same edges, door state differs)"


def diff_job(args: tuple[Job, int]) -> CellDiff:  # noqa: C901, PLR0912, PLR0915 - one pass per trace
    job, keep = args
    make = _sim if job.gen == "sim" else _cleanroom
    out = CellDiff(job)
    hi, ideal_records = make(job, hostile=False)
    hh, hostile_records = make(job, hostile=True)
    i_ticks = [r for r in ideal_records if isinstance(r, Tick)]
    h_ticks = [r for r in hostile_records if isinstance(r, Tick)]
    i_truth = [r for r in ideal_records if isinstance(r, Truth) and r.direction in ("in", "out")]
    h_truth = [r for r in hostile_records if isinstance(r, Truth) and r.direction in ("in", "out")]
    out.same_truth = [(t.door, t.direction, round(t.t, 3)) for t in i_truth] == [
        (t.door, t.direction, round(t.t, 3)) for t in h_truth
    ]
    ri = _run(hi, i_ticks)
    rh = _run(hh, h_ticks)
    out.ideal_matched, out.ideal_denom, i_ok, i_false = _outcome(i_truth, ri.crossings)
    out.hostile_matched, out.hostile_denom, h_ok, h_false = _outcome(h_truth, rh.crossings)
    true = _true_times(i_ticks, h_ticks)
    # The hostile node clocks, known exactly: fitted to the true times of the same edges.
    pairs: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for t in h_ticks:
        key = (t.node, t.node_us * 1e-6)
        if key in true:
            pairs.setdefault((t.node, t.boot), []).append((key[1], true[key][1]))
    oracle = {nb: _fit(sorted(set(ps))) for nb, ps in pairs.items() if len(set(ps)) > 1}
    out.fit_ms = max(
        (abs(a + b * x - y) * 1000 for nb, (a, b) in oracle.items() for x, y in pairs[nb]),
        default=0.0,
    )
    out.unfitted = sum(1 for t in h_ticks if (t.node, t.boot) not in oracle)
    # R: the hostile trace's edges on an ideal link (each delivered 1 ms after it happened);
    # C: the hostile delivery with the engine's clock alignment replaced by the true clocks.
    unique: dict[tuple[str, int, int], Tick] = {}
    for t in h_ticks:
        unique.setdefault((t.node, t.boot, t.seq), t)
    redelivered = []
    for t in unique.values():
        a, b = oracle.get((t.node, t.boot), (0.0, 1.0))
        redelivered.append(replace(t, rx=round(a + b * t.node_us * 1e-6 + 0.001, 6)))
    redelivered.sort(key=lambda t: (t.rx, t.node, t.seq))
    rr = _run(hh, redelivered)
    rc = _run(hh, h_ticks, oracle)
    out.r_matched, out.r_denom, r_ok, r_false = _outcome(h_truth, rr.crossings)
    out.c_matched, out.c_denom, c_ok, c_false = _outcome(h_truth, rc.crossings)
    r_f = [rr.crossings[k] for k in sorted(r_false)]
    c_f = [rc.crossings[k] for k in sorted(c_false)]

    def has(fs: list[Any], c: tuple[str, str, float, str]) -> bool:
        return any(d[:2] == c[:2] and abs(d[2] - c[2]) < 0.3 for d in fs)

    arrived: dict[tuple[str, float], float] = {}
    for t in h_ticks:
        arrived.setdefault((t.node, t.node_us * 1e-6), t.rx)
    diffs: list[tuple[str, str, float, str, str]] = []  # what, door, time, note, cause
    if out.same_truth:
        for k in sorted(i_ok ^ h_ok):
            tr = i_truth[k]
            what = "missed on hostile" if k in i_ok else "missed on ideal"
            h_has = k in h_ok
            cause = (
                "realization"
                if (k in r_ok) == h_has
                else "clock"
                if (k in c_ok) == (k in r_ok)
                else ""
            )
            diffs.append((what, tr.door, tr.t, f"truth {tr.direction} {tr.kind}", cause))

    def false_set(crossings: list[tuple[str, str, float, str]], idx: set[int]) -> list[Any]:
        return [crossings[k] for k in sorted(idx)]

    i_f = false_set(ri.crossings, i_false)
    h_f = false_set(rh.crossings, h_false)
    for c, what, h_has in [(c, "false on hostile", True) for c in h_f if not has(i_f, c)] + [
        (c, "false on ideal", False) for c in i_f if not has(h_f, c)
    ]:
        cause = (
            "realization" if has(r_f, c) == h_has else "clock" if has(c_f, c) == has(r_f, c) else ""
        )
        diffs.append((what, c[0], c[2], f"counted {c[1]} {c[3]}", cause))
    for what, door, t0, note, cause in diffs:
        heps = _episode_at(rh.episodes.get(door, []), t0)
        ieps = _episode_at(ri.episodes.get(door, []), t0)
        if out.fit_ms > MAX_FIT_MS:
            cls = "unpaired trace (edges not paired across the links)"
        elif cause == "realization":
            cls = "not the link (the same with the hostile edges delivered perfectly)"
        elif cause == "clock":
            cls = "clock (right with the true clocks)"
        else:
            cls = "delivery, " + _classify(heps, ieps, true, arrived)
        name = f"{what}: {cls}"
        out.classes[name] += 1
        if sum(1 for d in out.examples if d.cls == name) < keep:
            lines = [f"{note} at {t0:.2f}"]
            lines += ["    ideal   " + _fmt(ep, t0, {}, {}) for ep in ieps]
            lines += ["    hostile " + _fmt(ep, t0, arrived, true) for ep in heps]
            out.examples.append(Diff(name, "\n".join(lines)))
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--worst", type=int, default=8)
    parser.add_argument("--examples", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--gen", choices=("sim", "cleanroom"), default=None)
    parser.add_argument("--spacing", type=float, default=None)
    parser.add_argument("--speed", default=None)
    args = parser.parse_args(argv)
    todo = [
        (j, args.examples)
        for j in jobs(args.seeds, args.minutes)
        if j.cls == "hostile"
        and (args.gen is None or j.gen == args.gen)
        and (args.spacing is None or abs(j.spacing - args.spacing) < 1e-9)
        and (args.speed is None or j.speed == args.speed)
    ]
    if args.workers > 1:
        with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
            cells = list(pool.imap_unordered(diff_job, todo, chunksize=1))
    else:
        cells = [diff_job(a) for a in todo]
    by_cell: dict[tuple[object, ...], list[CellDiff]] = {}
    for c in cells:
        by_cell.setdefault(c.job.cell, []).append(c)

    def short(cs: list[CellDiff]) -> float:
        a = sum(c.ideal_matched for c in cs) / max(1, sum(c.ideal_denom for c in cs))
        b = sum(c.hostile_matched for c in cs) / max(1, sum(c.hostile_denom for c in cs))
        return a - b

    shorts = {cell: short(cs) for cell, cs in by_cell.items()}
    bad = [c for c in cells if not c.same_truth]
    print(
        f"{len(by_cell)} cells ({len(cells)} traces); shortfall worst "
        f"{max(shorts.values()):.4f} mean {sum(shorts.values()) / len(shorts):.4f}, cells > 0.003: "
        f"{sum(1 for s in shorts.values() if s > 0.003)}; traces whose truth differs: {len(bad)}"
    )

    def acc(cs: list[CellDiff], which: str) -> float:
        m = sum(getattr(c, f"{which}_matched") for c in cs)
        d = sum(getattr(c, f"{which}_denom") for c in cs)
        return m / d if d else 1.0

    for label, a, b in (
        ("ideal -> hostile (the sweep's shortfall)", "ideal", "hostile"),
        ("ideal -> hostile edges delivered perfectly (not the link)", "ideal", "r"),
        ("perfect delivery -> hostile delivery, true clocks (delivery)", "r", "c"),
        ("true clocks -> fitted clocks (clock alignment)", "c", "hostile"),
    ):
        d = {
            cell: acc(ok, a) - acc(ok, b)
            for cell, cs in by_cell.items()
            if (ok := [c for c in cs if c.fit_ms <= MAX_FIT_MS])
        }
        print(
            f"  {label}: worst {max(d.values()):+.4f} mean {sum(d.values()) / len(d):+.4f}"
            f" cells > 0.003: {sum(1 for v in d.values() if v > 0.003)}"
        )
    print(
        f"  (traces whose edges could not be paired across the links, left out of the last "
        f"three: {sum(1 for c in cells if c.fit_ms > MAX_FIT_MS)})"
    )
    for layout, parity in (("one dual-beam node", 1), ("two nodes", 0)):
        total: Counter[str] = Counter()
        for c in cells:
            if c.job.seed % 2 == parity:
                total.update(c.classes)
        print(f"differences by class, doors of {layout} (all cells):")
        for name, n in sorted(total.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"  {n:>5}  {name}")
    worst = sorted(by_cell.values(), key=short, reverse=True)[: args.worst]
    print(f"worst {len(worst)} cells:")
    for cs in worst:
        top_classes = Counter[str]()
        for c in cs:
            top_classes.update(c.classes)
        top = ", ".join(f"{name} {n}" for name, n in top_classes.most_common(4))
        print(f"  {short(cs):+.4f}  {cs[0].job.label()}: {top}")
        for c in cs:
            for example in c.examples:
                print(f"      [{example.cls}] seed {c.job.seed} {example.text}")


if __name__ == "__main__":
    main()
