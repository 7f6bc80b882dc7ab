"""The live view behind `doorcount demo`: per-door counts next to the simulator's truth,
site occupancy, node health and recent crossings, refreshed while the pipeline runs.

The pipeline (`sensor_sim.demo.site`) writes into a `Board`; `LiveView` only reads it, so the
view never slows the counting down and a non-terminal gets a progress line instead.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from gateway.core.events import Crossing, Event, Health
from gateway.core.site import SiteLayout
from gateway.evaluation.scoring import Counted, Score, score
from gateway.protocol.trace import Truth

REFRESH_S = 0.25
PROGRESS_S = 5.0


@dataclass
class DoorView:
    entries: int = 0
    exits: int = 0
    visitors: int = 0  # entries that were visitors' (docs/sites.md)
    staff: int = 0  # entries that were staff's
    truth_in: int = 0
    truth_out: int = 0


@dataclass(frozen=True, slots=True)
class NodeRow:
    """One node's link health as the view shows it; None = not known on this path."""

    node: str
    door: str | None
    connected: bool
    battery_pct: int | None = None
    rssi: int | None = None
    gaps: int = 0
    reconnects: int = 0
    ticks: int | None = None


@dataclass
class Board:
    """What the demo knows so far: filled by the pipeline, drawn by `LiveView`."""

    site: str
    doors: dict[str, DoorView]
    truths: Sequence[Truth]
    """Every truth crossing of the trace, by time; `reveal` moves them onto the board."""
    path: str = ""
    """How ticks travel, for the heading (e.g. "BLE (bumble virtual radio) -> amqtt")."""
    nodes: list[NodeRow] = field(default_factory=list)
    occupancy: int | None = None
    sim_start: float = 0.0
    sim_now: float = 0.0
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=8))
    counted: list[Counted] = field(default_factory=list)
    truth: list[Truth] = field(default_factory=list)
    layout: SiteLayout | None = None
    """Who a crossing counts as; None: every door an entrance, always open."""

    @classmethod
    def for_trace(
        cls,
        site: str,
        doors: Iterable[str],
        truths: Iterable[Truth],
        layout: SiteLayout | None = None,
    ) -> Board:
        names = list(doors)
        return cls(
            site,
            {d: DoorView() for d in names},
            sorted(truths, key=lambda t: t.t),
            layout=layout or SiteLayout.default(names),
        )

    def reveal(self, until: float) -> None:
        """Show the simulator's truth up to trace time `until`."""
        while len(self.truth) < len(self.truths) and self.truths[len(self.truth)].t <= until:
            truth = self.truths[len(self.truth)]
            self.truth.append(truth)
            view = self.doors.get(truth.door)
            if view is None:
                continue
            if truth.direction == "in":
                view.truth_in += 1
            elif truth.direction == "out":
                view.truth_out += 1

    def take(self, events: Iterable[Event]) -> None:
        for e in events:
            if isinstance(e, Crossing):
                view = self.doors[e.door]
                if e.direction == "in":
                    view.entries += 1
                    audience = (self.layout or SiteLayout.default(self.doors)).classify(e).audience
                    view.visitors += audience == "visitor"
                    view.staff += audience == "staff"
                else:
                    view.exits += 1
                self.counted.append(Counted(e.door, e.direction, e.t))
                arrow = "->" if e.direction == "in" else "<-"
                self.recent.appendleft(
                    f"{time.strftime('%H:%M:%S', time.gmtime(e.t))}  {e.door:<10} {arrow} "
                    f"{e.direction:<3} {e.kind} ({e.confidence:.2f})"
                )
            elif isinstance(e, Health) and e.kind in ("beam_stuck", "beam_recovered"):
                self.note(f"health: {e.kind} at door {e.door} (node {e.node})")

    def note(self, line: str) -> None:
        self.recent.appendleft(line)

    def score(self) -> Score:
        return score(list(self.doors), self.truth, self.counted)


@dataclass
class LiveView:
    board: Board
    speed: float
    console: Console = field(default_factory=Console)

    async def run(self, done: asyncio.Event) -> None:
        """Redraw until `done` is set, then draw the final state once more."""
        interactive = self.console.is_terminal
        if not interactive:
            while not await _wait(done, PROGRESS_S):
                self._print_line()
            return
        with Live(self._render(), console=self.console, auto_refresh=False) as live:
            while not await _wait(done, REFRESH_S):
                live.update(self._render(), refresh=True)
            live.update(self._render(), refresh=True)

    def _render(self) -> Group:
        b = self.board
        table = Table(title=f"site {b.site}: live counts vs simulator truth")
        columns = (
            "door",
            "visitors",
            "staff",
            "entries",
            "exits",
            "inside",
            "truth in",
            "truth out",
        )
        for col in columns:
            table.add_column(col, justify="left" if col == "door" else "right")
        for door, v in b.doors.items():
            table.add_row(
                door,
                str(v.visitors),
                str(v.staff),
                str(v.entries),
                str(v.exits),
                str(v.entries - v.exits),
                str(v.truth_in),
                str(v.truth_out),
            )
        total_in = sum(v.entries for v in b.doors.values())
        total_out = sum(v.exits for v in b.doors.values())
        occupancy = b.occupancy if b.occupancy is not None else max(0, total_in - total_out)
        truth_in = sum(v.truth_in for v in b.doors.values())
        truth_out = sum(v.truth_out for v in b.doors.values())
        table.add_row(
            "[bold]site",
            f"[bold]{sum(v.visitors for v in b.doors.values())}",
            f"[bold]{sum(v.staff for v in b.doors.values())}",
            f"[bold]{total_in}",
            f"[bold]{total_out}",
            f"[bold]{occupancy}",
            f"[bold]{truth_in}",
            f"[bold]{truth_out}",
        )
        nodes = Table(title="nodes")
        for col in ("node", "door", "link", "battery", "RSSI", "ticks", "gaps", "reconnects"):
            nodes.add_column(col, justify="left" if col in ("node", "door", "link") else "right")
        for n in b.nodes:
            nodes.add_row(
                n.node,
                n.door or "-",
                "[green]connected" if n.connected else "[red]down",
                _known(n.battery_pct, "%"),
                _known(n.rssi, " dBm"),
                _known(n.ticks, ""),
                str(n.gaps),
                str(n.reconnects),
            )
        elapsed = b.sim_now - b.sim_start
        head = Text(
            f"simulated {elapsed / 60:5.1f} min at {self.speed:g}x   {b.path}   (Ctrl-C to stop)",
            style="dim",
        )
        recent = Text("\n".join(b.recent) or "waiting for the first crossing...")
        return Group(head, table, nodes, Text("recent crossings:", style="bold"), recent)

    def _print_line(self) -> None:
        b = self.board
        parts = [f"{d}: +{v.entries}/-{v.exits}" for d, v in b.doors.items()]
        up = sum(n.connected for n in b.nodes)
        print(
            f"[{(b.sim_now - b.sim_start) / 60:5.1f} min] "
            + "  ".join(parts)
            + f"  nodes up {up}/{len(b.nodes)}",
            flush=True,
        )


def summary_line(board: Board, duplicates: int, seq_lost: int) -> str:
    sc = board.score()
    return (
        f"done: {sc.counted_total} crossings counted, {sc.truth_total} in truth; "
        f"event_accuracy {sc.event_accuracy:.4f}, count_error {sc.count_error:.4f}; "
        f"{duplicates} duplicate ticks dropped, {seq_lost} lost."
    )


def print_summary(console: Console, *lines: str) -> None:
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)
    sys.stdout.flush()


def _known(value: int | None, unit: str) -> str:
    return "-" if value is None else f"{value}{unit}"


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
