"""A live counting session over BLE: ingest -> engine -> events, optionally recorded.

Ticks are fed to the engine as they arrive (stamped with the gateway's receive time by the
ingest); `advance` runs every `advance_s` so decisions do not wait for the next tick. Everything
the engine was given can be recorded (`gateway.pipeline.recording`) for a bit-exact replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import IO

from gateway.core.engine import Engine
from gateway.core.events import Event
from gateway.core.tuning import EngineConfig
from gateway.pipeline.recording import TraceRecorder
from gateway.protocol.trace import Tick, TraceHeader
from gateway.sources.ble.backend import Backend
from gateway.sources.ble.ingest import Ingest, IngestConfig, PairedNode, Report

EventsFn = Callable[[list[Event]], None]


class LiveCounter:
    """Counts crossings for `header.doors` from the paired nodes, live.

    `on_events` gets every non-empty batch of engine events, `on_ticks` every batch of ticks
    before the engine sees it (monitoring, latency); `record` (an open text file)
    receives the session as a replayable trace. Nodes not in any door are connected (their
    health is known) but their ticks are counted by the engine as unknown, never crossed.
    """

    def __init__(
        self,
        backend: Backend,
        header: TraceHeader,
        nodes: list[PairedNode],
        *,
        on_events: EventsFn | None = None,
        on_ticks: Callable[[list[Tick]], None] | None = None,
        engine_config: EngineConfig | None = None,
        ingest_config: IngestConfig | None = None,
        on_report: Callable[[Report], None] | None = None,
        record: IO[str] | None = None,
        advance_s: float = 0.1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = Engine(header.doors, engine_config)
        self.events: list[Event] = []
        self._on_events = on_events
        self._on_ticks_seen = on_ticks
        self._clock = clock
        self._advance_s = advance_s
        self._recorder = TraceRecorder(record, header) if record is not None else None
        self.ingest = Ingest(
            backend,
            nodes,
            self._on_ticks,
            config=ingest_config,
            on_report=on_report,
            clock=clock,
        )
        self._ticker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.ingest.start()
        self._ticker = asyncio.get_running_loop().create_task(self._tick_loop())

    async def stop(self) -> list[Event]:
        """Stop ingesting and decide what is still open; returns those last events."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self.ingest.stop()
        last = self.engine.finish()
        self._emit(last)
        if self._recorder is not None:
            self._recorder.flush()
        return last

    def _on_ticks(self, ticks: list[Tick]) -> None:
        if self._on_ticks_seen is not None:
            self._on_ticks_seen(ticks)
        for tick in ticks:
            if self._recorder is not None:
                self._recorder.tick(tick)
            self._emit(self.engine.feed(tick))

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self._advance_s)
            now = self._clock()
            if self._recorder is not None:
                self._recorder.advance(now)
            self._emit(self.engine.advance(now))

    def _emit(self, events: list[Event]) -> None:
        if events:
            self.events.extend(events)
            if self._on_events is not None:
                self._on_events(events)
