"""`doorcount eval TRACE`: replay a trace through the engine and score it against its truth."""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.errors import DoorcountError

if TYPE_CHECKING:
    from gateway.core.tuning import EngineConfig
    from gateway.evaluation.replay import ReplayResult
    from gateway.evaluation.scoring import Score


class UsageError(DoorcountError, ValueError):
    """An eval argument that cannot work."""


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "eval",
        help="replay a trace through the counting engine and score it",
        description="Replay a doorcount-trace in virtual time (as fast as the CPU allows) and "
        "score the counted crossings against the trace's truth lines.",
    )
    p.add_argument("trace", type=Path, help="doorcount-trace v1 file (JSON Lines)")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object")
    p.add_argument(
        "--crossings", type=Path, metavar="OUT.jsonl", help="write every counted crossing"
    )
    p.add_argument(
        "--skip-bad", action="store_true", help="count and skip malformed lines instead of stopping"
    )
    p.add_argument("--plot", type=Path, metavar="FILE.png", help="counted vs truth over time")
    p.add_argument(
        "--window", type=float, default=1.0, help="matching window in seconds (default 1.0)"
    )
    p.add_argument(
        "--config", type=Path, help="engine tuning (TOML with [engine.default] / [engine.doors.X])"
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from gateway.config import load_engine_config, site_layout
    from gateway.errors import TraceError, check_output_path
    from gateway.evaluation.replay import replay, terminal_progress
    from gateway.evaluation.scoring import Counted, reliability, score

    # Everything that can be checked is checked before the replay, not after it.
    if not math.isfinite(args.window) or args.window <= 0:
        raise UsageError(f"--window must be a number of seconds > 0, got {args.window}")
    if not args.trace.is_file():
        print(f"doorcount eval: no such trace file: {args.trace}", file=sys.stderr)
        return 2
    if args.crossings is not None:
        check_output_path(args.crossings, "--crossings", forbid=args.trace)
    if args.plot is not None:
        from gateway.evaluation.plot import check_image_path

        check_image_path(args.plot, "--plot")
        if args.crossings is not None and args.plot.resolve() == args.crossings.resolve():
            raise UsageError("--plot and --crossings name the same file")
    config = load_engine_config(args.config) if args.config else None
    with (
        stop_on_sigterm(),
        terminal_progress(args.trace, "replaying", show=not args.json) as progress,
    ):
        result = replay(args.trace, config, skip_bad=args.skip_bad, progress=progress)
    from gateway.evaluation.kpiscore import kpis_json
    from gateway.evaluation.metrics import metrics

    doors = [d.door for d in result.header.doors]
    counted = [Counted(c.door, c.direction, c.t) for c in result.crossings]
    sc = score(doors, result.truth, counted, window=args.window)
    raw_layout = result.header.extra.get("layout", {})
    if not isinstance(raw_layout, dict):
        raise TraceError("the trace header's 'layout' must be an object (docs/trace-format.md)")
    layout = site_layout(raw_layout, doors)
    figures = metrics(
        layout, result.truth, result.crossings, window=args.window, badges=result.badges
    )
    figures.update(kpis_json(layout, result.truth, result.visits, result.crossings, result.badges))
    warnings = _warnings(result, config)
    if args.crossings:
        with open(args.crossings, "w", encoding="utf-8") as out:
            for c in result.crossings:
                out.write(
                    json.dumps({"door": c.door, "direction": c.direction, "t": round(c.t, 4)})
                    + "\n"
                )
    if args.plot:
        from gateway.evaluation.plot import plot_eval

        plot_eval(sc, result.header.site, args.plot)
    for text in warnings.lines():
        print(f"doorcount eval: warning: {text}", file=sys.stderr)
    scored = sc.truth_total > 0
    if args.json:
        confidences = [c.confidence for c in result.crossings]
        pairs = list(zip(counted, confidences, strict=True))
        bins = reliability(result.truth, pairs, window=args.window)
        print(
            json.dumps(
                {
                    "doors": sc.doors_json(),
                    "event_accuracy": round(sc.event_accuracy, 6) if scored else None,
                    "count_error": round(sc.count_error, 6) if scored else None,
                    "metrics": figures,
                    "ticks": result.ticks,
                    "seconds": round(result.seconds, 3),
                    "reliability": [b.to_json() for b in bins],
                    "skipped_lines": len(result.bad),
                    "quarantined_ticks": len(result.quarantined),
                    "warnings": warnings.to_json(),
                }
            )
        )
        return 0
    _print_table(args, result, sc, scored, figures)
    return 0


@dataclass(slots=True)
class Warnings:
    """What in a trace or its tuning does not fit the doors it declares: said, and counted."""

    unknown_node_ticks: int = 0
    unknown_beam_ticks: int = 0
    silent_doors: list[str] = field(default_factory=list)
    truth_unknown_door: int = 0
    tuning_unknown_door: list[str] = field(default_factory=list)
    quarantined_ticks: int = 0
    nothing_to_score: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        out = []
        if self.unknown_node_ticks:
            out.append(f"{self.unknown_node_ticks} ticks from nodes of no door (ignored)")
        if self.unknown_beam_ticks:
            out.append(f"{self.unknown_beam_ticks} ticks on beams of no door (ignored)")
        if self.silent_doors:
            out.append(f"no ticks from the nodes of door {', '.join(self.silent_doors)}")
        if self.truth_unknown_door:
            out.append(f"{self.truth_unknown_door} truth lines name a door the header lacks")
        if self.tuning_unknown_door:
            out.append(f"tuning for door {', '.join(self.tuning_unknown_door)}, not in the trace")
        if self.quarantined_ticks:
            out.append(
                f"{self.quarantined_ticks} ticks quarantined: their rx is more than a day from "
                "the ticks around them (not counted)"
            )
        if self.nothing_to_score:
            out.append("nothing to score: the trace has no truth lines for its doors")
        return out


def _warnings(result: ReplayResult, config: EngineConfig | None) -> Warnings:
    doors = {d.door: d for d in result.header.doors}
    sent = result.engine.resume_points()
    stats = result.engine.stats
    return Warnings(
        unknown_node_ticks=stats.unknown_node,
        unknown_beam_ticks=stats.unknown_beam,
        silent_doors=[
            name
            for name, d in doors.items()
            if result.ticks and (d.outer.node not in sent or d.inner.node not in sent)
        ],
        truth_unknown_door=sum(1 for t in result.truth if t.door not in doors),
        tuning_unknown_door=sorted(set(config.doors) - set(doors)) if config else [],
        quarantined_ticks=len(result.quarantined),
        nothing_to_score=not any(t.door in doors and t.direction != "none" for t in result.truth),
    )


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """SIGTERM ends the replay like Ctrl-C, so the progress bar gives the terminal back."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_table(
    args: argparse.Namespace,
    result: ReplayResult,
    sc: Score,
    scored: bool,
    figures: dict[str, Any],
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"{args.trace.name}  (site {result.header.site})")
    for col in ("door", "dir", "truth", "counted", "matched", "missed", "false"):
        table.add_column(col, justify="left" if col in ("door", "dir") else "right")
    for door, by_dir in sc.cells.items():
        for direction, cell in by_dir.items():
            table.add_row(
                door,
                direction,
                str(cell.truth),
                str(cell.counted),
                str(cell.matched),
                str(len(cell.missed_at)),
                str(len(cell.false_at)),
            )
    console.print(table)
    console.print(_metrics_table(figures))
    st = result.engine.stats
    rate = result.ticks / result.seconds if result.seconds > 0 else 0.0
    accuracy = (
        f"event_accuracy [bold]{sc.event_accuracy:.4f}[/]   count_error "
        f"[bold]{sc.count_error:.4f}[/]   "
        if scored
        else "nothing to score (no truth lines)   "
    )
    console.print(f"{accuracy}ticks {result.ticks} in {result.seconds:.2f} s ({rate:,.0f}/s)")
    console.print(
        f"duplicates dropped {st.duplicates}, ticks lost {st.seq_lost}, reboots {st.reboots}, "
        f"unknown node {st.unknown_node}, masked by stuck beam {st.masked}, "
        f"episodes {st.episodes}, rejected (U-turns, strays) {st.rejected}"
    )
    for h in result.health:
        if h.kind in ("beam_stuck", "beam_recovered"):
            console.print(f"  health: {h.kind} door {h.door} node {h.node} at {h.t:.1f}")
    if result.bad:
        console.print(f"[yellow]skipped {len(result.bad)} bad lines[/], first:")
        for bad in result.bad[:5]:
            console.print(f"  line {bad.line}: {bad.reason}")
    if result.quarantined:
        console.print(f"[yellow]quarantined {len(result.quarantined)} ticks[/], first:")
        for bad in result.quarantined[:5]:
            console.print(f"  line {bad.line}: {bad.reason}")
    if args.crossings:
        console.print(f"crossings written to {args.crossings}")
    if args.plot:
        console.print(f"plot written to {args.plot}")


def _metrics_table(figures: dict[str, Any]) -> Any:
    from rich.table import Table

    table = Table(title="operator figures: counted (truth)")
    table.add_column("area")
    for name in ("visitors in", "staff in", "out of hours in", "peak inside"):
        table.add_column(name, justify="right")
    areas = {"site": figures["site"], **figures["zones"]}
    for area, values in areas.items():
        table.add_row(
            area,
            *(
                f"{values[k]['counted']} ({values[k]['truth']})"
                for k in ("visitors_in", "staff_in", "out_of_hours_in", "occupancy_peak")
            ),
        )
    return table
