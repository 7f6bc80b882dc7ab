"""`doorcount eval TRACE`: replay a trace through the engine and score it against its truth."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


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
    from gateway.core.tuning import load_engine_config
    from gateway.errors import TraceError
    from gateway.evaluation.replay import replay, terminal_progress
    from gateway.evaluation.scoring import Counted, reliability, score

    config = load_engine_config(args.config) if args.config else None
    if not args.trace.is_file():
        print(f"doorcount eval: no such trace file: {args.trace}", file=sys.stderr)
        return 2
    progress, stop = terminal_progress(args.trace, "replaying") if not args.json else (None, None)
    try:
        result = replay(args.trace, config, skip_bad=args.skip_bad, progress=progress)
    finally:
        if stop is not None:
            stop()
    from gateway.config import site_layout
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
    figures.update(kpis_json(layout, result.truth, result.visits, result.crossings))
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
    if args.json:
        confidences = [c.confidence for c in result.crossings]
        pairs = list(zip(counted, confidences, strict=True))
        bins = reliability(result.truth, pairs, window=args.window)
        print(
            json.dumps(
                {
                    "doors": sc.doors_json(),
                    "event_accuracy": round(sc.event_accuracy, 6),
                    "count_error": round(sc.count_error, 6),
                    "metrics": figures,
                    "ticks": result.ticks,
                    "seconds": round(result.seconds, 3),
                    "reliability": [b.to_json() for b in bins],
                }
            )
        )
        return 0
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
    console.print(
        f"event_accuracy [bold]{sc.event_accuracy:.4f}[/]   count_error "
        f"[bold]{sc.count_error:.4f}[/]   ticks {result.ticks} in {result.seconds:.2f} s "
        f"({rate:,.0f}/s)"
    )
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
    if args.crossings:
        console.print(f"crossings written to {args.crossings}")
    if args.plot:
        console.print(f"plot written to {args.plot}")
    return 0


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
