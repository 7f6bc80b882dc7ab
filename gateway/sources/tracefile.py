"""Recorded or simulated traces as a tick source (`doorcount run --trace`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

from gateway.errors import TraceError
from gateway.protocol.trace import Tick, open_trace
from gateway.sources.base import ResumePoints, SourceItem


class TraceReplay:
    """Plays a doorcount trace as a tick source, as fast as possible or at `speed` x real time.

    On resume, each node's ticks before its resume point (in trace order) are skipped: the
    trace plays the role of the nodes' flash buffers. Anything replayed twice is harmless (the
    engine drops duplicate sequence numbers); skipping too much would lose counts.
    """

    def __init__(self, path: str | Path, speed: float | None = None) -> None:
        self.path = Path(path)
        self.speed = speed
        with open_trace(self.path) as reader:
            self.header = reader.header
            first = next((r for r in reader if isinstance(r, Tick)), None)
        self.header_start = first.rx if first is not None else 0.0
        self._last_rx: float | None = None
        self._origin: tuple[float, float] | None = None  # (rx, monotonic) at the first tick

    def now(self) -> float:
        """The trace's own clock: time passes only with its ticks, so a replay at any speed
        counts exactly like `doorcount eval` (an idle `advance` adds nothing)."""
        return self._last_rx if self._last_rx is not None else self.header_start

    async def stream(self, resume: ResumePoints) -> AsyncIterator[SourceItem]:
        try:
            async for record in self._records(resume):
                yield record
        except TraceError as exc:
            where = f"line {exc.line}: " if exc.line is not None else ""
            raise TraceError(f"trace {self.path} {where}{exc.reason}") from None

    async def _records(self, resume: ResumePoints) -> AsyncIterator[Tick]:
        at_boot: set[str] = set()
        count = 0
        with open_trace(self.path) as reader:
            for record in reader:
                if not isinstance(record, Tick):
                    continue
                point = resume.get(record.node)
                if point is not None:
                    if record.boot == point[0]:
                        at_boot.add(record.node)
                        if record.seq < point[1]:
                            continue  # consumed before the restart
                    elif record.node not in at_boot:
                        continue  # an earlier boot, before the resume point in trace order
                if self.speed:
                    if self._origin is None:
                        self._origin = (record.rx, time.monotonic())
                    rx0, mono0 = self._origin
                    delay = mono0 + (record.rx - rx0) / self.speed - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                self._last_rx = record.rx
                count += 1
                if count % 256 == 0:
                    await asyncio.sleep(0)  # let the broker link run during a fast replay
                yield record
