"""The live view behind `doorcount demo`: ticks replayed at a chosen speed, counts vs truth."""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from gateway.engine import Engine
from gateway.events import Crossing, Event, Health
from gateway.scoring import Counted, score
from gateway.trace import Record, Tick, TraceHeader, Truth

REFRESH_S = 0.25


@dataclass
class _DoorView:
    entries: int = 0
    exits: int = 0
    truth_in: int = 0
    truth_out: int = 0


@dataclass
class LiveDemo:
    header: TraceHeader
    records: Sequence[Record]
    speed: float = 30.0
    console: Console = field(default_factory=lambda: Console(stderr=False))
    _views: dict[str, _DoorView] = field(default_factory=dict)
    _recent: deque[str] = field(default_factory=lambda: deque(maxlen=8))
    _counted: list[Counted] = field(default_factory=list)
    _truth: list[Truth] = field(default_factory=list)

    def run(self) -> None:
        self._views = {d.door: _DoorView() for d in self.header.doors}
        engine = Engine(self.header.doors)
        ticks = [r for r in self.records if isinstance(r, Tick)]
        truths = sorted((r for r in self.records if isinstance(r, Truth)), key=lambda t: t.t)
        if not ticks:
            self.console.print("nothing to show: the simulation made no ticks")
            return
        sim_start = ticks[0].rx
        wall_start = time.monotonic()
        next_truth = 0
        interactive = self.console.is_terminal
        last_print = 0.0
        with Live(self._render(sim_start, sim_start), console=self.console,
                  auto_refresh=False, transient=False) if interactive else _NoLive() as live:
            last_refresh = 0.0
            for tick in ticks:
                due = wall_start + (tick.rx - sim_start) / self.speed
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                while next_truth < len(truths) and truths[next_truth].t <= tick.rx:
                    self._take_truth(truths[next_truth])
                    next_truth += 1
                self._take(engine.feed(tick))
                now = time.monotonic()
                if interactive and now - last_refresh >= REFRESH_S:
                    live.update(self._render(sim_start, tick.rx), refresh=True)
                    last_refresh = now
                elif not interactive and now - last_print >= 5.0:
                    self._print_line(sim_start, tick.rx)
                    last_print = now
            self._take(engine.finish())
            for truth in truths[next_truth:]:
                self._take_truth(truth)
            if interactive:
                live.update(self._render(sim_start, ticks[-1].rx), refresh=True)
        self._summary(engine)

    def _take_truth(self, truth: Truth) -> None:
        self._truth.append(truth)
        view = self._views.get(truth.door)
        if view is None:
            return
        if truth.direction == "in":
            view.truth_in += 1
        elif truth.direction == "out":
            view.truth_out += 1

    def _take(self, events: list[Event]) -> None:
        for e in events:
            if isinstance(e, Crossing):
                view = self._views[e.door]
                if e.direction == "in":
                    view.entries += 1
                else:
                    view.exits += 1
                self._counted.append(Counted(e.door, e.direction, e.t))
                arrow = "->" if e.direction == "in" else "<-"
                self._recent.appendleft(
                    f"{time.strftime('%H:%M:%S', time.gmtime(e.t))}  {e.door:<10} {arrow} "
                    f"{e.direction:<3} {e.kind} ({e.confidence:.2f})"
                )
            elif isinstance(e, Health) and e.kind in ("beam_stuck", "beam_recovered"):
                self._recent.appendleft(f"health: {e.kind} at door {e.door} (node {e.node})")

    def _render(self, start: float, now: float) -> Group:
        table = Table(title=f"site {self.header.site}: live counts vs simulator truth")
        for col in ("door", "entries", "exits", "inside", "truth in", "truth out"):
            table.add_column(col, justify="left" if col == "door" else "right")
        for door, v in self._views.items():
            table.add_row(door, str(v.entries), str(v.exits), str(v.entries - v.exits),
                          str(v.truth_in), str(v.truth_out))
        total_in = sum(v.entries for v in self._views.values())
        total_out = sum(v.exits for v in self._views.values())
        table.add_row("[bold]site", f"[bold]{total_in}", f"[bold]{total_out}",
                      f"[bold]{max(0, total_in - total_out)}", "", "")
        elapsed = now - start
        head = Text(f"simulated {elapsed / 60:5.1f} min at {self.speed:g}x   "
                    "(Ctrl-C to stop)", style="dim")
        recent = Text("\n".join(self._recent) or "waiting for the first crossing...")
        return Group(head, table, Text("recent crossings:", style="bold"), recent)

    def _print_line(self, start: float, now: float) -> None:
        parts = [f"{d}: +{v.entries}/-{v.exits}" for d, v in self._views.items()]
        print(f"[{(now - start) / 60:5.1f} min] " + "  ".join(parts), flush=True)

    def _summary(self, engine: Engine) -> None:
        sc = score(list(self._views), self._truth, self._counted)
        self.console.print(
            f"done: {sc.counted_total} crossings counted, {sc.truth_total} in truth; "
            f"event_accuracy {sc.event_accuracy:.4f}, count_error {sc.count_error:.4f}; "
            f"{engine.stats.duplicates} duplicate ticks dropped, {engine.stats.seq_lost} lost."
        )
        sys.stdout.flush()


class _NoLive:
    def __enter__(self) -> _NoLive:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, *args: object, **kwargs: object) -> None:
        return None
