"""A simulated site counted through the real pipeline, end to end, in accelerated time.

BLE path: one simulated node per trace node serves its ticks over bumble's in-process radio;
the gateway pairs with each node using its label passkey, keeps them connected (`Ingest`) and
stamps receive times with the trace clock. Direct path (`ble=False`, or when BLE setup fails):
the trace's own ticks go to the same Service at the same pace. Either way:

    QueueSource -> Service (engine, intervals, occupancy, outbox) -> MQTT -> bridge -> store

The store's interval counts are read back at the end and checked against what was counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import shutil
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.core.events import Event
from gateway.errors import DoorcountError
from gateway.pipeline.occupancy import Occupancy
from gateway.pipeline.service import EngineLike, Service, default_engine
from gateway.protocol.trace import DoorSpec, Record, Tick, TraceHeader, Truth, node_places
from gateway.sources.base import QueueSource
from gateway.sources.ble.source import node_statuses
from sensor_sim.demo.view import Board, NodeRow, SiteKpis

if TYPE_CHECKING:
    from gateway.outputs.bridge.service import Bridge
    from gateway.sources.ble.backend import Backend
    from gateway.sources.ble.ingest import Ingest, Report
    from sensor_sim.ble.link import RadioLink
    from sensor_sim.ble.serve import TraceServer

log = logging.getLogger(__name__)

OUTBOX = "outbox.sqlite3"
STORE = "series.sqlite"
KEYS = "keys"
MAX_BLE_SPEED = 30.0
"""Above this, one event loop cannot keep the radio's trace-time latency small enough for the
engine. Measured on mall (8 doors, 10 min), event accuracy BLE vs direct: 0.868/0.868 at 30x,
0.850/0.868 at 60x, 0.759/0.868 at 120x. How fast the loop keeps up depends on the machine:
on a 2-core VM shared with other jobs (stop 27) BLE read 0.8705/0.8683 at 10x, 0.8677/0.8709
at 15x, 0.8453/0.8673 at 20x and 0.8641/0.8426/0.8238 at 30x, against 0.8705 direct: hence
the default of 10x (`command.DEFAULT_SPEED`)."""
SETTLE_S = 30.0
"""Wall seconds to wait for the last ticks, the outbox and the bridge at the end."""


class DemoError(DoorcountError, RuntimeError):
    """The demo pipeline could not be set up or did not deliver."""


@dataclass(frozen=True, slots=True)
class DemoOptions:
    state_dir: Path
    speed: float = 30.0
    ble: bool = True
    mqtt_host: str | None = None
    """An external broker; None starts the embedded one."""
    mqtt_port: int = 1883
    interval_seconds: int = 60
    radio_interval: float = 0.0
    """BLE connection interval of the simulated links in wall seconds (0: instant)."""


@dataclass(slots=True)
class DemoResult:
    path: str
    no_ble_reason: str | None
    duplicates: int
    seq_lost: int
    store_path: Path
    stored_entries: int
    stored_exits: int
    stored_intervals: int
    counted_entries: int
    counted_exits: int

    @property
    def delivered(self) -> bool:
        return (self.stored_entries, self.stored_exits) == (
            self.counted_entries,
            self.counted_exits,
        )


def label_passkeys(nodes: Sequence[str], seed: int) -> dict[str, int]:
    """The six-digit passkey printed on each simulated node's label (stable per seed)."""
    rng = random.Random(f"doorcount-demo-passkeys-{seed}")
    return {node: rng.randrange(1_000_000) for node in sorted(nodes)}


def prepare_state_dir(state_dir: Path) -> None:
    """Each run starts afresh: the same seed gives the same (boot, seq) numbers, which a
    previous run's outbox checkpoint would otherwise skip as already counted."""
    state_dir.mkdir(parents=True, exist_ok=True)
    for name in (OUTBOX, STORE):
        for suffix in ("", "-wal", "-shm", "-journal"):
            (state_dir / f"{name}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(state_dir / KEYS, ignore_errors=True)


class _TappedEngine:
    """The Service's engine, with every batch of events also shown on the board."""

    def __init__(self, engine: EngineLike, on_events: Callable[[list[Event]], None]) -> None:
        self.engine = engine
        self._on_events = on_events

    def feed(self, tick: Tick) -> list[Event]:
        return self._tap(self.engine.feed(tick))

    def advance(self, now: float) -> list[Event]:
        return self._tap(self.engine.advance(now))

    def finish(self) -> list[Event]:
        return self._tap(self.engine.finish())

    def resume_points(self) -> dict[str, tuple[int, int]]:
        return self.engine.resume_points()

    def continue_from(self, resume: Mapping[str, tuple[int, int]]) -> None:
        self.engine.continue_from(resume)

    def snapshot(self) -> bytes:
        return self.engine.snapshot()

    def _tap(self, events: list[Event]) -> list[Event]:
        if events:
            self._on_events(events)
        return events


class TraceClock:
    """Trace time running at `speed` x wall time from `start()`, stopping at `end` (the
    settling at the end must not run the engine's or the intervals' clock hours ahead)."""

    def __init__(self, t0: float, speed: float, end: float) -> None:
        self.t0 = t0
        self.speed = speed
        self.end = end
        self._wall0: float | None = None

    def start(self) -> None:
        self._wall0 = asyncio.get_running_loop().time()

    def __call__(self) -> float:
        if self._wall0 is None:
            return self.t0
        now = self.t0 + (asyncio.get_running_loop().time() - self._wall0) * self.speed
        return min(now, self.end)


@dataclass
class _Ble:
    radio: RadioLink
    server: TraceServer
    backend: Backend
    ingest: Ingest
    reports: list[Report] = field(default_factory=list)

    async def close(self) -> None:
        await self.ingest.stop()
        await self.backend.close()
        await self.server.close()


class DemoSite:
    """One demo run over a generated trace; `run()` returns what reached the store."""

    def __init__(
        self,
        header: TraceHeader,
        records: Sequence[Record],
        options: DemoOptions,
        *,
        seed: int = 1,
    ) -> None:
        self.header = header
        self.records = records
        self.options = options
        self.seed = seed
        self.doors: tuple[DoorSpec, ...] = tuple(header.doors)
        self.ticks = sorted((r for r in records if isinstance(r, Tick)), key=lambda t: t.rx)
        self.board = Board.for_trace(
            header.site, [d.door for d in self.doors], (r for r in records if isinstance(r, Truth))
        )
        self.t0 = (self.ticks[0].rx if self.ticks else 0.0) - 1.0
        self.board.sim_start = self.board.sim_now = self.t0
        self.t_end = (self.ticks[-1].rx if self.ticks else 0.0) + 1.0
        self.clock: Callable[[], float] = TraceClock(self.t0, options.speed, self.t_end)
        self.service: Service | None = None
        self.engine: _TappedEngine | None = None
        self._ble: _Ble | None = None
        self._places = node_places(self.doors)
        self._source = QueueSource(clock=self.now)
        self._ticked = False
        self._links_final = False

    def now(self) -> float:
        """Trace time now; `clock` becomes the BLE server's clock once the radio is up."""
        return self.clock()

    @property
    def store_path(self) -> Path:
        return self.options.state_dir / STORE

    async def run(
        self, view: Callable[[asyncio.Event], Awaitable[None]] | None = None
    ) -> DemoResult:
        """Run the site to the end of its trace; `view(done)` runs alongside until done."""
        prepare_state_dir(self.options.state_dir)
        async with self._broker() as (host, port, embedded), self._bridge(host, port, embedded):
            no_ble_reason: str | None = None
            if self.options.ble and self.options.speed > MAX_BLE_SPEED:
                no_ble_reason = (
                    f"--speed {self.options.speed:g} is above {MAX_BLE_SPEED:g}, the "
                    "fastest the virtual BLE radio keeps its timing at"
                )
            elif self.options.ble:
                try:
                    self._ble = await self._start_ble()
                except Exception as exc:  # any BLE failure: the demo goes on without it
                    no_ble_reason = f"{type(exc).__name__}: {exc}"
                    log.warning(
                        "BLE setup failed (%s): feeding the simulated ticks directly", no_ble_reason
                    )
            self.board.path = (
                ("BLE (bumble virtual radio)" if self._ble else "direct (no BLE)")
                + f" -> gateway -> {'embedded amqtt' if embedded else f'MQTT {host}:{port}'}"
                " -> bridge -> local store"
            )
            try:
                result = await self._count(host, port, embedded, view)
            finally:
                if self._ble is not None:
                    await self._ble.close()
            result.no_ble_reason = no_ble_reason
            return result

    # -- the pieces -----------------------------------------------------------------------

    @asynccontextmanager
    async def _broker(self) -> AsyncIterator[tuple[str, int, bool]]:
        if self.options.mqtt_host is not None:
            yield self.options.mqtt_host, self.options.mqtt_port, False
            return
        from sensor_sim.demo.broker import HOST, EmbeddedBroker

        async with EmbeddedBroker() as broker:
            yield HOST, broker.port, True

    @asynccontextmanager
    async def _bridge(self, host: str, port: int, embedded: bool) -> AsyncIterator[Bridge]:
        from gateway.outputs.bridge.service import Bridge
        from gateway.outputs.bridge.settings import load_settings
        from gateway.outputs.bridge.store import LocalStore

        settings = load_settings(
            mqtt_host=host,
            mqtt_port=port,
            client_id=f"doorcount-demo-bridge-{port}",
            influx_url=None,
            store_path=self.store_path,
            linger=0.05,
            session_expiry=60,
            # amqtt, the embedded broker, has no MQTT 5.
            mqtt_protocol="3.1.1" if embedded else "5",
        )
        bridge = Bridge(settings, LocalStore(settings.store_path))
        thread = threading.Thread(target=bridge.run, name="demo-bridge", daemon=True)
        thread.start()
        try:
            async with asyncio.timeout(SETTLE_S):
                while bridge.stats.subscribed < 1:
                    if not thread.is_alive():
                        raise DemoError("the bridge stopped before subscribing")
                    await asyncio.sleep(0.02)
        except TimeoutError:
            bridge.stop()
            raise DemoError(f"the bridge could not subscribe at {host}:{port}") from None
        try:
            yield bridge
        finally:
            bridge.stop()
            await asyncio.to_thread(thread.join, 10)

    async def _start_ble(self) -> _Ble:
        from gateway.sources.ble import pairing
        from gateway.sources.ble.backend import open_backend
        from gateway.sources.ble.ingest import Ingest, IngestConfig
        from sensor_sim.ble.link import RadioLink
        from sensor_sim.ble.serve import TraceServer

        keys = self.options.state_dir / KEYS
        radio = RadioLink(interval=0.0, seed=self.seed)  # pairing is instant, not under test
        names = sorted({t.node for t in self.ticks} | set(self._places))
        passkeys = label_passkeys(names, self.seed)
        server = TraceServer(
            self.header,
            self.records,
            radio,
            speed=self.options.speed,
            passkeys=passkeys,
            keystore_dir=keys / "nodes",
            status_interval=1.0,
            seed=self.seed,
        )
        self.clock = lambda: min(server.clock(), self.t_end)
        await server.start()
        backend = None
        try:
            backend = await open_backend(radio, keystore=keys / "gateway.json")
            paired = []
            for name, node in server.nodes.items():
                node.peripheral.open_pairing_window()  # the installer presses the button
                paired.append(await pairing.pair(backend, node.address, passkeys[name]))
                node.peripheral.open_pairing_window(0)
                self.board.note(f"paired {name} ({node.address}) with its label passkey")
            radio.interval = self.options.radio_interval
            source = self._source
            reports: list[Report] = []

            def on_report(report: Report) -> None:
                reports.append(report)
                if report.kind in ("disconnected", "reboot", "not_bonded", "wrong_node"):
                    self.board.note(f"link: {report.node} {report.kind} {report.detail}".strip())

            def on_ticks(ticks: list[Tick]) -> None:
                self._ticked = True
                for tick in ticks:
                    source.put(tick)

            ingest = Ingest(
                backend,
                paired,
                on_ticks,
                # Ingest time is trace time: at `speed`, a short stall of the one event loop
                # is a long silence; keep it above two wall seconds.
                config=IngestConfig(
                    silence_s=max(10.0, 2.0 * self.options.speed), backoff_min=0.05, backoff_max=1.0
                ),
                on_report=on_report,
                clock=self.clock,
            )
            await ingest.start()
            try:
                async with asyncio.timeout(SETTLE_S):
                    await ingest.wait_connected()
            except TimeoutError:
                await ingest.stop()
                raise DemoError(
                    f"only {ingest.connected()} of {len(paired)} nodes connected"
                ) from None
            return _Ble(radio, server, backend, ingest, reports)
        except BaseException:
            if backend is not None:
                await backend.close()
            await server.close()
            self.clock = TraceClock(self.t0, self.options.speed, self.t_end)
            raise

    async def _count(
        self,
        host: str,
        port: int,
        embedded: bool,
        view: Callable[[asyncio.Event], Awaitable[None]] | None,
    ) -> DemoResult:
        from gateway.outputs.mqtt.settings import MqttSettings

        mqtt = MqttSettings(
            host=host,
            port=port,
            protocol="3.1.1" if embedded else "5",
            client_id=f"doorcount-demo-{port}",
            outbox_path=self.options.state_dir / OUTBOX,
            outbox_sync="normal",
            interval_seconds=self.options.interval_seconds,
            reconnect_min=0.05,
            reconnect_max=1.0,
        )
        service = self.service = Service(
            site=self.header.site,
            doors=self.doors,
            source=self._source,
            mqtt=mqtt,
            engine_factory=self._engine,
            idle_advance=0.1,
        )
        done = asyncio.Event()
        viewer = asyncio.ensure_future(view(done)) if view is not None else None
        runner = asyncio.create_task(service.run(drain_timeout=SETTLE_S), name="gateway")
        feeder = asyncio.create_task(self._feed(), name="feed")
        watcher = asyncio.create_task(self._watch(done), name="watch")
        try:
            await asyncio.gather(runner, feeder)
            await self._await_store()
        finally:
            for task in (runner, feeder):
                task.cancel()
            self.board.reveal(float("inf"))  # the truth of the whole trace, for the summary
            done.set()
            await asyncio.gather(runner, feeder, watcher, return_exceptions=True)
            if viewer is not None:
                await viewer
        return self._result()

    def _engine(self, doors: Sequence[DoorSpec], snapshot: bytes | None) -> EngineLike:
        self.engine = _TappedEngine(default_engine(doors, snapshot), self.board.take)
        return self.engine

    async def _feed(self) -> None:
        """Play the site's trace through the chosen path; close the source at its end."""
        try:
            if self._ble is not None:
                await self._feed_ble(self._ble)
            else:
                await self._feed_direct()
        finally:
            self._source.close()

    async def _feed_direct(self) -> None:
        clock = self.clock
        assert isinstance(clock, TraceClock)
        clock.start()
        loop = asyncio.get_running_loop()
        wall0 = loop.time()
        for i, tick in enumerate(self.ticks):
            delay = wall0 + (tick.rx - self.t0) / self.options.speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif i % 256 == 0:
                await asyncio.sleep(0)
            self._source.put(tick)

    async def _feed_ble(self, ble: _Ble) -> None:
        statuses = asyncio.create_task(self._statuses(ble))
        try:
            await ble.server.run()
            # The last ticks still in the nodes' buffers or on the air.
            try:
                async with asyncio.timeout(SETTLE_S):
                    while ble.ingest.connected() < len(ble.server.nodes) or any(
                        n.unsent for n in ble.server.nodes.values()
                    ):
                        await asyncio.sleep(0.05)
            except TimeoutError:
                unsent = sum(n.unsent for n in ble.server.nodes.values())
                self.board.note(f"gave up waiting for {unsent} unsent ticks")
                log.warning("BLE: %d ticks still unsent after %.0f s", unsent, SETTLE_S)
            await asyncio.sleep(0.3)
            self._put_statuses(ble)
            self._refresh_board()
            self._links_final = True  # the view keeps the links as they were in the session
            await ble.ingest.stop()
        finally:
            statuses.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await statuses

    async def _statuses(self, ble: _Ble) -> None:
        """Link health into the Service (its node health topics) once a second."""
        while True:
            self._put_statuses(ble)
            await asyncio.sleep(1.0)

    def _put_statuses(self, ble: _Ble) -> None:
        if not self._ticked:
            return  # the Service takes its first time from the first tick, not a status
        for status in node_statuses(ble.ingest, self.clock()):
            self._source.put(status)

    async def _watch(self, done: asyncio.Event) -> None:
        """Keep the board's node health and occupancy current."""
        while not done.is_set():
            self._refresh_board()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.2):
                    await done.wait()
        self._refresh_board()

    def _refresh_board(self) -> None:
        self.board.sim_now = max(self.board.sim_now, self.now())
        self.board.reveal(self.board.sim_now)
        pipeline = self.service.pipeline if self.service is not None else None
        if pipeline is not None:
            self.board.occupancy = pipeline.occupancy.state.occupancy
            self.board.kpis = _kpis(pipeline.occupancy, self.board.sim_start, self.board.sim_now)
        if self._links_final:
            return
        if self._ble is not None:
            self.board.nodes = [
                NodeRow(
                    h.node,
                    self._door(h.node),
                    h.connected,
                    h.battery_pct,
                    h.rssi,
                    h.gaps,
                    h.reconnects,
                    h.ticks,
                )
                for h in self._ble.ingest.health()
            ]
        elif pipeline is not None:
            self.board.nodes = [
                NodeRow(
                    name, n.door, bool(n.connected), n.battery_pct, n.rssi, n.gaps, n.reconnects
                )
                for name, n in sorted(pipeline.nodes.items())
            ]

    def _door(self, node: str) -> str | None:
        place = self._places.get(node)
        return place.door if place is not None else None

    async def _await_store(self) -> None:
        """Until the bridge stored every counted crossing in its interval counts."""
        want = self._counted()
        try:
            async with asyncio.timeout(SETTLE_S):
                while self._stored()[:2] != want:
                    await asyncio.sleep(0.05)
        except TimeoutError:
            log.warning(
                "the store holds %s (entries, exits), %s were counted", self._stored()[:2], want
            )

    def _counted(self) -> tuple[int, int]:
        entries = sum(1 for c in self.board.counted if c.direction == "in")
        return entries, len(self.board.counted) - entries

    def _stored(self) -> tuple[int, int, int]:
        from gateway.outputs.bridge import schema
        from gateway.outputs.bridge.store import LocalStore

        store = LocalStore(self.store_path)
        try:
            points = store.query(schema.DOOR_INTERVAL)
        finally:
            store.close()
        entries = sum(int(p.fields.get("entries", 0)) for p in points)
        exits = sum(int(p.fields.get("exits", 0)) for p in points)
        return entries, exits, len(points)

    def _result(self) -> DemoResult:
        stats = getattr(self.engine.engine if self.engine else None, "stats", None)
        entries, exits, intervals = self._stored()
        counted = self._counted()
        return DemoResult(
            path=self.board.path,
            no_ble_reason=None,
            duplicates=getattr(stats, "duplicates", 0),
            seq_lost=getattr(stats, "seq_lost", 0),
            store_path=self.store_path,
            stored_entries=entries,
            stored_exits=exits,
            stored_intervals=intervals,
            counted_entries=counted[0],
            counted_exits=counted[1],
        )


def _kpis(occupancy: Occupancy, start: float, now: float) -> SiteKpis:
    s = occupancy.state
    return SiteKpis(
        since=s.last_reset if s.last_reset is not None else start,
        inside=s.occupancy,
        entries=s.entries,
        visitors_in=s.split.get("visitors_in", 0),
        passers_by=s.split.get("passersby_in", 0) + s.split.get("passersby_out", 0),
        occupancy_s=occupancy.occupancy_seconds(now) or 0.0,
    )
