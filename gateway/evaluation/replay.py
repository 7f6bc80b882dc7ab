"""Replay a trace through the engine in virtual time, as fast as the CPU allows."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from gateway.core.badges import BadgeEpisode
from gateway.core.engine import Engine
from gateway.core.events import Crossing, Event, Health
from gateway.core.tuning import EngineConfig
from gateway.pipeline.recording import feed_records
from gateway.protocol.trace import (
    Advance,
    BadgeHeard,
    BadLine,
    Tick,
    TraceHeader,
    TraceReader,
    Truth,
    Visit,
)

ProgressFn = Callable[[int], None]
"""Called now and then with the number of bytes read so far."""


@dataclass(slots=True)
class ReplayResult:
    header: TraceHeader
    crossings: list[Crossing]
    health: list[Health]
    truth: list[Truth]
    ticks: int
    seconds: float
    """Wall-clock seconds spent reading and counting."""
    engine: Engine
    bad: list[BadLine] = field(default_factory=list)
    quarantined: list[BadLine] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)
    """Simulated visit truth (`visit` lines), for the visitor KPIs' scores."""
    badges: list[BadgeEpisode] = field(default_factory=list)
    """Badge episodes (`badge` lines) on the gateway clock, as the engine located them."""


def _lines(raw: IO[bytes], progress: ProgressFn | None) -> Iterator[bytes]:
    done = 0
    for n, line in enumerate(raw):
        done += len(line)
        if progress is not None and n % 20000 == 0:
            progress(done)
        yield line
    if progress is not None:
        progress(done)


def replay(
    path: str | Path,
    config: EngineConfig | None = None,
    *,
    skip_bad: bool = False,
    progress: ProgressFn | None = None,
) -> ReplayResult:
    """Read a doorcount-trace, feed every tick to a fresh engine, collect what it says."""
    started = time.perf_counter()
    with open(path, "rb") as raw:
        reader = TraceReader(_lines(raw, progress), skip_bad=skip_bad)
        engine = Engine(reader.header.doors, config)
        crossings: list[Crossing] = []
        health: list[Health] = []
        truth: list[Truth] = []
        visits: list[Visit] = []
        badges: list[BadgeEpisode] = []

        def take(events: list[Event]) -> None:
            for e in events:
                if isinstance(e, Crossing):
                    crossings.append(e)
                elif isinstance(e, Health):
                    health.append(e)

        def records() -> Iterator[Tick | Advance]:
            for record in reader:
                if isinstance(record, Truth):
                    truth.append(record)
                elif isinstance(record, Visit):
                    visits.append(record)
                elif isinstance(record, BadgeHeard):
                    # located by the clock fitted so far, as the live gateway does
                    where = engine.locate(record.node, record.boot, record.node_us)
                    if where is not None:
                        door, t0 = where
                        badges.append(BadgeEpisode(door, t0, t0 + record.duration_us * 1e-6))
                elif isinstance(record, Tick | Advance):
                    yield record

        for events in feed_records(engine, records()):
            if events:
                take(events)
        take(engine.finish())
    crossings.sort(key=lambda c: (c.t, c.door))
    return ReplayResult(
        reader.header,
        crossings,
        health,
        truth,
        engine.stats.ticks,
        time.perf_counter() - started,
        engine,
        reader.bad,
        reader.quarantined,
        visits,
        badges,
    )


@contextmanager
def terminal_progress(
    path: str | Path, label: str, *, show: bool = True
) -> Iterator[ProgressFn | None]:
    """A rich progress bar on a terminal (stderr) while the block runs; nothing when not a TTY.

    The terminal is given back (cursor shown) however the block ends, Ctrl-C and SIGTERM
    included (`doorcount eval` turns SIGTERM into KeyboardInterrupt).
    """
    if not show or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    total = os.path.getsize(path)
    bar = Progress(
        f"[bold]{label}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        transient=True,
    )
    task = bar.add_task(label, total=total)
    try:
        bar.start()
        yield lambda done: bar.update(task, completed=done)
    finally:
        bar.stop()
