"""The one small interface every tick source implements, and what a source yields.

A source is anything with `stream(resume)`, an async iterator of `Tick | NodeStatus`, and
`now()`, its clock. `resume` maps each node to the (boot, seq) after the last tick the
committed engine snapshot consumed: after a restart a source replays each node from there (a
node's flash buffer, or the trace), so nothing is lost; the engine drops what it sees twice.
A source that fails raises (a `DoorcountError` with a one-line cause where it can tell one):
the service stops with a non-zero exit instead of taking a failure for the end of the stream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from gateway.protocol.trace import BadgeHeard, Tick

ResumePoints = Mapping[str, tuple[int, int]]
"""node -> (boot, seq) of the first tick not yet consumed by the committed engine."""


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """Link-level facts about a node from an ingest (not from the engine); None = unknown.

    Counters are the ingest's running totals for that node.
    """

    node: str
    t: float
    connected: bool
    rssi: int | None = None
    battery_pct: int | None = None
    battery_mv: int | None = None
    reconnects: int | None = None
    duplicates: int | None = None
    ticks_dropped: int | None = None
    bad_frames: int | None = None


SourceItem = Tick | NodeStatus | BadgeHeard


class TickSource(Protocol):
    def stream(self, resume: ResumePoints) -> AsyncIterator[SourceItem]: ...

    def now(self) -> float: ...


class QueueSource:
    """A push source for callback-style ingests: call `put` (or `put_threadsafe`), then `close`.

    `resume` holds the resume points once the service started streaming, for ingests that can
    ask a node to resend from there.
    """

    _END = object()

    def __init__(self, clock: Callable[[], float] = time.time, maxsize: int = 100_000) -> None:
        self._clock = clock
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize)
        self.resume: ResumePoints = {}

    def now(self) -> float:
        return self._clock()

    def put(self, item: SourceItem) -> None:
        self._queue.put_nowait(item)

    def put_threadsafe(self, loop: asyncio.AbstractEventLoop, item: SourceItem) -> None:
        loop.call_soon_threadsafe(self._queue.put_nowait, item)

    def close(self) -> None:
        self._queue.put_nowait(self._END)

    async def stream(self, resume: ResumePoints) -> AsyncIterator[SourceItem]:
        self.resume = dict(resume)
        while True:
            item = await self._queue.get()
            if item is self._END:
                return
            assert isinstance(item, Tick | NodeStatus)
            yield item
