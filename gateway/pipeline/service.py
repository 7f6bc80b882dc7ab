"""`doorcount run`: ticks in, counts out, durably.

    source (trace replay, BLE ingest, serial) -> engine -> intervals / occupancy / health
        -> ONE SQLite transaction per batch (outbox rows + state + engine checkpoint)
        -> MqttLink drains the outbox to the broker

The source is any `gateway.sources.base.TickSource`; after a restart it replays each node
from the resume points of the last committed engine snapshot, and the restored engine drops
anything it sees twice, so nothing is counted twice and nothing is lost. A source or task
that fails stops the service with its error (systemd restarts it), never as if the stream
had ended.

With `record`, everything fed to the engine (ticks and idle `advance` calls) is also written
to a doorcount-trace recording (`gateway.pipeline.recording`) whose length is committed in the same
transaction as the engine checkpoint; a restart cuts the file back to it, so
`replay_recording` of the file reproduces the live events across crashes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from gateway.core.badges import BadgeEpisode, BadgeMatcher
from gateway.core.events import Crossing, DoorOccupancy, Event, Health
from gateway.core.site import COUNT_NAMES, Classified, SiteLayout
from gateway.errors import DoorcountError, ServiceError
from gateway.outputs.mqtt.payloads import (
    CrossingPayload,
    DoorOccupancyPayload,
    IntervalPayload,
    NodeHealthPayload,
    QualityPayload,
    SiteOccupancyPayload,
    Topics,
    VisitsPayload,
    ZoneOccupancyPayload,
    crossing_id,
)
from gateway.outputs.mqtt.settings import MqttSettings, OccupancySettings
from gateway.outputs.outbox import Batch, IntervalRow, Message, Outbox, Priority
from gateway.pipeline.corrections import Correction, corrected
from gateway.pipeline.intervals import Intervals
from gateway.pipeline.occupancy import Occupancy, OccupancyState
from gateway.protocol.trace import (
    BadgeHeard,
    Direction,
    DoorSpec,
    NodePosition,
    Tick,
    TraceHeader,
    node_places,
)
from gateway.sources.base import NodeStatus, ResumePoints, SourceItem, TickSource

if TYPE_CHECKING:
    from gateway.outputs.mqtt.client import MqttLink
    from gateway.pipeline.recording import DurableRecording

log = logging.getLogger(__name__)

BADGE_KEEP_S = 120.0
"""Badge episodes older than this (before the newest one) can no longer claim a crossing."""
HEALTH_REFRESH = 60.0
"""A node's health is republished at least this often (stream time) while it is active."""


def _split(counts: Iterable[tuple[str, int]]) -> dict[str, int]:
    """All eight split fields of a payload, zeros included (absent would mean 'unknown')."""
    return dict.fromkeys(COUNT_NAMES, 0) | dict(counts)


def _capture_rate(split: dict[str, int]) -> float | None:
    """Visitor entries / passers-by (both ways); None, never 0, without passers-by."""
    passers = split["passersby_in"] + split["passersby_out"]
    return split["visitors_in"] / passers if passers else None


def _kpis(area: Occupancy, now: float) -> dict[str, float | None]:
    """Person-seconds since the last reset and the Little's-law mean visit over that period."""
    seconds = area.occupancy_seconds(now)
    entries = area.state.entries
    mean = seconds / entries if seconds is not None and entries else None
    return {"occupancy_seconds": seconds, "mean_visit_s": mean}


class EngineLike(Protocol):
    def feed(self, tick: Tick) -> list[Event]: ...

    def advance(self, now: float) -> list[Event]: ...

    def finish(self) -> list[Event]: ...

    def resume_points(self) -> dict[str, tuple[int, int]]: ...

    def continue_from(self, resume: Mapping[str, tuple[int, int]]) -> None: ...

    def snapshot(self) -> bytes: ...


EngineFactory = Callable[[Sequence[DoorSpec], bytes | None], EngineLike]
"""Builds the engine for these doors, from the last committed snapshot when there is one."""


def default_engine(doors: Sequence[DoorSpec], snapshot: bytes | None) -> EngineLike:
    from gateway.core.engine import Engine  # the counting engine (heavy: imported when used)

    if snapshot is not None:
        try:
            engine = Engine.restore(snapshot)
        except Exception:  # any unpickling failure means the same
            # Written by an engine this version cannot read: counting on beats a crash loop.
            log.exception(
                "the saved engine state cannot be read: starting afresh, the ticks it had not "
                "decided yet are discarded"
            )
        else:
            if engine.doors == list(doors):
                return engine
            log.warning("the doors changed since the last run: undecided ticks are discarded")
    return Engine(doors)


@dataclass(slots=True)
class NodeState:
    door: str | None
    position: NodePosition | None
    connected: bool | None = None  # None: no connection attempt has ended since the start
    rssi: int | None = None
    battery_pct: int | None = None
    battery_mv: int | None = None
    last_seen: float | None = None
    reconnects: int = 0
    gaps: int = 0
    duplicates: int = 0
    ticks_dropped: int = 0
    bad_frames: int = 0
    beam_stuck: bool = False
    published_at: float | None = field(default=None, compare=False)


@dataclass(slots=True)
class Quality:
    seq_gaps: int = 0
    late_ticks: int = 0
    corrected_intervals: int = 0
    too_late: int = 0


class Pipeline:
    """The synchronous core: engine events in, messages and state rows out, one batch at a time.

    Kept free of asyncio so tests and the benchmark can drive it directly.
    """

    def __init__(
        self,
        site: str,
        doors: Sequence[DoorSpec],
        mqtt: MqttSettings,
        occupancy: OccupancySettings,
        outbox: Outbox,
        layout: SiteLayout | None = None,
        corrections: Mapping[str, Correction] | None = None,
    ) -> None:
        self.site = site
        self.doors = tuple(doors)
        self.mqtt = mqtt
        self.outbox = outbox
        self.corrections: Mapping[str, Correction] = corrections or {}
        """Accepted audits' factors per door (`gateway.pipeline.corrections`)."""
        self.topics = Topics(mqtt.prefix, site)
        names = [d.door for d in doors]
        self.layout = layout or SiteLayout.default(names)
        self.badges = BadgeMatcher()
        """Badge episodes waiting for their crossing: doors and times only."""
        self.intervals = Intervals(
            names,
            mqtt.interval_seconds,
            mqtt.interval_grace,
            rows=outbox.intervals(),
            closed_until=outbox.get_state("closed_until"),
        )
        raw_occ = outbox.get_state("occupancy")
        self.occupancy = Occupancy(
            names,
            reset_time=occupancy.reset_time,
            zone=occupancy.zone,
            idle_reset_hours=occupancy.idle_reset_hours,
            state=OccupancyState.from_json(raw_occ) if raw_occ else None,
            interval_seconds=mqtt.interval_seconds,
        )
        raw_zones = outbox.get_state("zones", {})
        self.zones = {
            zone: Occupancy(
                self.layout.zone_doors(zone),
                reset_time=occupancy.reset_time,
                zone=occupancy.zone,
                idle_reset_hours=occupancy.idle_reset_hours,
                state=OccupancyState.from_json(raw_zones[zone]) if zone in raw_zones else None,
                interval_seconds=mqtt.interval_seconds,
            )
            for zone in self.layout.zones
        }
        """Occupancy per zone, with the site's resets; published when the config names zones."""
        self.quality = Quality(**outbox.get_state("quality", {}))
        self.intervals.figures.late = self.quality.late_ticks
        self.intervals.figures.corrections = self.quality.corrected_intervals
        self.intervals.figures.too_late = self.quality.too_late
        places = node_places(doors)
        stored = outbox.get_state("nodes", {})
        self.nodes: dict[str, NodeState] = {}
        for node, place in places.items():
            self.nodes[node] = NodeState(place.door, place.position)
        for node, raw in stored.items():
            if node in places:  # nodes no longer configured are forgotten
                place = places[node]
                self.nodes[node] = NodeState(
                    # Whether it is connected is not known until this run has tried.
                    **{**raw, "door": place.door, "position": place.position, "connected": None}
                )
        self.checkpoint: dict[str, tuple[int, int]] = outbox.checkpoint()
        self.now: float = outbox.get_state("now", 0.0)
        self._events: list[Event] = []
        self._dirty_nodes: set[str] = set()
        self._snapshot: bytes | None = None
        self._quality_due = True
        self.recorded: tuple[str, int] | None = None
        """(recording path, its length) to commit with the engine checkpoint."""

    # -- input ----------------------------------------------------------------------------

    def on_tick(self, tick: Tick) -> None:
        node = self._node(tick.node)
        if not node.connected:
            node.connected = True
            self._dirty_nodes.add(tick.node)
        node.last_seen = tick.rx
        if node.published_at is None or tick.rx - node.published_at >= HEALTH_REFRESH:
            self._dirty_nodes.add(tick.node)
        self.now = max(self.now, tick.rx)

    def on_status(self, status: NodeStatus) -> None:
        node = self._node(status.node)
        node.connected = status.connected
        node.last_seen = max(node.last_seen or status.t, status.t)
        self.now = max(self.now, status.t)  # a status may come before any tick
        for name in (
            "rssi",
            "battery_pct",
            "battery_mv",
            "reconnects",
            "duplicates",
            "ticks_dropped",
            "bad_frames",
        ):
            value = getattr(status, name)
            if value is not None:
                setattr(node, name, value)
        self._dirty_nodes.add(status.node)
        self._quality_due = True

    def on_badge(self, engine: EngineLike, badge: BadgeHeard) -> None:
        """A node heard a registered staff badge with a beam episode: the crossing decided
        for it (if any, and not yet committed) counts as staff. Only the episode's door and
        times are kept, until no crossing can claim them."""
        locate = getattr(engine, "locate", None)
        where = None if locate is None else locate(badge.node, badge.boot, badge.node_us)
        if where is not None:
            door, t0 = where
            self.badges.add(BadgeEpisode(door, t0, t0 + badge.duration_us * 1e-6))
            self.badges.forget_before(t0 - BADGE_KEEP_S)

    def on_events(self, events: Iterable[Event]) -> None:
        self._events.extend(events)

    def set_engine(self, engine: EngineLike) -> None:
        """The engine state to commit with the next batch."""
        self.checkpoint.update(engine.resume_points())
        self._snapshot = engine.snapshot()

    def _node(self, name: str) -> NodeState:
        node = self.nodes.get(name)
        if node is None:
            node = self.nodes[name] = NodeState(None, None)
        return node

    # -- output ---------------------------------------------------------------------------

    def announce(self, batch: Batch) -> None:
        """Queue the retained states as they are now (startup, after a reset of HA...)."""
        self.occupancy.changed_doors.update(d.door for d in self.doors)
        self.occupancy.site_changed = True
        for zone in self.zones.values():
            zone.site_changed = True
        self._dirty_nodes.update(self.nodes)
        self._queue_states(batch)
        self._queue_quality(batch)

    def commit(self, *, now: float | None = None, flush: bool = False) -> None:
        """Turn the buffered events into messages and persist everything in ONE transaction."""
        if now is not None:
            self.now = max(self.now, now)
        with self.outbox.batch() as batch:
            self._apply(batch, flush)
            self._persist(batch)

    def _apply(self, batch: Batch, flush: bool) -> None:
        events, self._events = self._events, []
        for event in events:
            if isinstance(event, Crossing):
                event_id = crossing_id(event.door, event.t, event.direction)
                counted = self.layout.classify(event, badge=self.badges.claim(event))
                self.intervals.add(event, counted.audience)
                self._reset_occupancy(event.t)  # a reset due before this crossing comes first
                self._occupy(counted)
                batch.enqueue(
                    Message(
                        self.topics.crossing(event.door),
                        CrossingPayload(
                            site=self.site,
                            door=event.door,
                            direction=event.direction,
                            t=event.t,
                            kind=event.kind,
                            confidence=min(max(event.confidence, 0.0), 1.0),
                            id=event_id,
                            audience=counted.audience,
                        ).encode(),
                        qos=self.mqtt.qos,
                    ),
                )
            elif isinstance(event, Health):
                self._on_health(event)
            elif isinstance(event, DoorOccupancy):
                pass  # the engine's per-run figure; occupancy is kept here, across restarts
        self._reset_occupancy(self.now)
        self.badges.forget_before(self.now - BADGE_KEEP_S)
        rows = self.intervals.flush() if flush else self.intervals.close(self.now)
        for row in rows:
            self._enqueue_interval(batch, row)
        self._queue_visits(batch)
        self._queue_states(batch)
        if rows or self._quality_due:
            self._queue_quality(batch)
            self._quality_due = False

    def _occupy(self, counted: Classified) -> None:
        """Move the crossing's person between the site's zones, and in or out of the site."""
        event, audience = counted.crossing, counted.audience
        site_direction = counted.site_direction
        if site_direction is not None:
            self.occupancy.apply(replace(event, direction=site_direction), audience=audience)
        elif counted.role == "perimeter":
            self.occupancy.apply(event, moves=False, audience=audience)
        else:  # between two zones: the site's door tally only
            self.occupancy.apply(event, moves=False)
        sides: tuple[tuple[str | None, Direction], ...] = (
            (counted.from_zone, "out"),
            (counted.to_zone, "in"),
        )
        for name, direction in sides:
            zone = self.zones.get(name) if name is not None else None
            if zone is not None:
                zone.apply(replace(event, direction=direction), audience=audience)

    def _reset_occupancy(self, now: float) -> None:
        reason = self.occupancy.tick(now)
        if reason is not None:
            log.info("occupancy reset (%s): %d corrected", reason, self.occupancy.state.corrected)
            self._quality_due = True
        for name, zone in self.zones.items():
            reason = zone.tick(now)
            if reason is not None:
                log.info("zone %s reset (%s): %d corrected", name, reason, zone.state.corrected)

    def _on_health(self, event: Health) -> None:
        node = self._node(event.node)
        if event.kind == "seq_gap":
            node.gaps += 1
            self.quality.seq_gaps += 1
        elif event.kind == "beam_stuck":
            node.beam_stuck = True
        elif event.kind == "beam_recovered":
            node.beam_stuck = False
        log.info("health: %s node %s %s", event.kind, event.node, event.detail)
        self._dirty_nodes.add(event.node)
        self._quality_due = True

    def _enqueue_interval(self, batch: Batch, row: IntervalRow) -> None:
        fix = self.corrections.get(row.door)
        audited = {}
        if fix is not None and row.start >= fix.since:
            audited = {
                "entries_corrected": corrected(row.entries, fix.factor_in),
                "exits_corrected": corrected(row.exits, fix.factor_out),
                "correction_in": fix.factor_in,
                "correction_out": fix.factor_out,
                "corrected_since": fix.since,
            }
        payload = IntervalPayload(
            site=self.site,
            door=row.door,
            start=row.start,
            seconds=row.seconds,
            entries=row.entries,
            exits=row.exits,
            revision=row.revision,
            role=self.layout.plan(row.door).role,
            **_split(row.counts),
            **audited,
        )
        batch.enqueue(
            Message(
                self.topics.interval(row.door),
                payload.encode(),
                priority=Priority.INTERVAL,
                key=f"interval:{row.door}:{row.start}",
                qos=self.mqtt.qos,
            )
        )

    def _queue_visits(self, batch: Batch) -> None:
        """Occupancy-seconds of the site, and of each configured zone, per ended interval."""
        until = self.intervals.closed_until
        if until is None:
            return
        areas: list[tuple[str | None, Occupancy]] = [(None, self.occupancy)]
        if self.layout.explicit:
            areas += list(self.zones.items())
        for name, area in areas:
            for start, b in area.take_intervals(until):
                split = _split(b.split.items())
                payload = VisitsPayload(
                    site=self.site,
                    zone=name,
                    start=start,
                    seconds=self.intervals.seconds,
                    occupancy_seconds=b.occupancy_s,
                    entries=b.entries,
                    exits=b.exits,
                    corrected=b.corrected,
                    inside_end=b.inside_end,
                    capture_rate=_capture_rate(split),
                    **split,
                )
                batch.enqueue(
                    Message(
                        self.topics.visits(name),
                        payload.encode(),
                        priority=Priority.INTERVAL,
                        key=f"visits:{name or ''}:{start}",
                        qos=self.mqtt.qos,
                    )
                )

    def _state(self, topic: str, payload: bytes) -> Message:
        return Message(
            topic, payload, retain=True, priority=Priority.STATE, key=topic, qos=self.mqtt.qos
        )

    def _queue_states(self, batch: Batch) -> None:
        occ = self.occupancy
        s = occ.state
        for door in sorted(occ.changed_doors):
            tally = s.doors[door]
            batch.enqueue(
                self._state(
                    self.topics.door_occupancy(door),
                    DoorOccupancyPayload(
                        site=self.site,
                        door=door,
                        role=self.layout.plan(door).role,
                        t=self.now,
                        entries=tally.entries,
                        exits=tally.exits,
                        net=tally.net,
                    ).encode(),
                )
            )
        if occ.site_changed:
            batch.enqueue(
                self._state(
                    self.topics.site_occupancy(),
                    SiteOccupancyPayload(
                        site=self.site,
                        t=self.now,
                        occupancy=s.occupancy,
                        entries=s.entries,
                        exits=s.exits,
                        corrected=s.corrected,
                        last_reset=s.last_reset,
                        reset_reason=s.reset_reason,
                        **_kpis(occ, self.now),
                        capture_rate=_capture_rate(_split(s.split.items())),
                        **_split(s.split.items()),
                    ).encode(),
                )
            )
        occ.changed_doors.clear()
        occ.site_changed = False
        for name, zone in self.zones.items():
            if zone.site_changed and self.layout.explicit:
                z = zone.state
                batch.enqueue(
                    self._state(
                        self.topics.zone_occupancy(name),
                        ZoneOccupancyPayload(
                            site=self.site,
                            zone=name,
                            t=self.now,
                            occupancy=z.occupancy,
                            entries=z.entries,
                            exits=z.exits,
                            corrected=z.corrected,
                            last_reset=z.last_reset,
                            reset_reason=z.reset_reason,
                            **_kpis(zone, self.now),
                            **_split(z.split.items()),
                        ).encode(),
                    )
                )
            zone.site_changed = False
            zone.changed_doors.clear()
        for name in sorted(self._dirty_nodes):
            node = self.nodes[name]
            node.published_at = self.now
            batch.enqueue(
                self._state(
                    self.topics.node_health(name),
                    NodeHealthPayload(
                        site=self.site,
                        node=name,
                        door=node.door,
                        position=node.position,
                        connected=node.connected,
                        rssi=node.rssi,
                        battery_pct=node.battery_pct,
                        battery_mv=node.battery_mv,
                        last_seen=node.last_seen,
                        reconnects=node.reconnects,
                        gaps=node.gaps,
                        duplicates=node.duplicates,
                        ticks_dropped=node.ticks_dropped,
                        beam_stuck=node.beam_stuck,
                    ).encode(),
                )
            )
        self._dirty_nodes.clear()

    def quality_payload(self) -> QualityPayload:
        f = self.intervals.figures
        return QualityPayload(
            site=self.site,
            t=self.now,
            duplicates_dropped=sum(n.duplicates for n in self.nodes.values()),
            seq_gaps=self.quality.seq_gaps,
            late_ticks=f.late,
            corrected_intervals=f.corrections,
            occupancy_corrected=self.occupancy.state.corrected_total,
            outbox_depth=self.outbox.depth,
            outbox_dropped=self.outbox.dropped,
            bad_frames=sum(n.bad_frames for n in self.nodes.values()),
        )

    def _queue_quality(self, batch: Batch) -> None:
        batch.enqueue(self._state(self.topics.quality(), self.quality_payload().encode()))

    def _persist(self, batch: Batch) -> None:
        rows, pruned = self.intervals.take_changes()
        batch.put_intervals(rows)
        if pruned is not None:
            batch.drop_intervals_before(pruned)
        batch.set_checkpoint(self.checkpoint)
        if self._snapshot is not None:
            batch.set_blob("engine", self._snapshot)
            self._snapshot = None
        if self.recorded is not None:
            batch.set_state("recording", {"path": self.recorded[0], "bytes": self.recorded[1]})
        batch.set_state("closed_until", self.intervals.closed_until)
        batch.set_state("now", self.now)
        f = self.intervals.figures
        self.quality.late_ticks = f.late
        self.quality.corrected_intervals = f.corrections
        self.quality.too_late = f.too_late
        batch.set_state("occupancy", self.occupancy.state.to_json())
        batch.set_state("zones", {name: z.state.to_json() for name, z in self.zones.items()})
        batch.set_state("quality", asdict(self.quality))
        batch.set_state("nodes", {name: asdict(node) for name, node in self.nodes.items()})


class Service:
    """The long-running gateway: a tick source, the engine, the pipeline and the broker link."""

    def __init__(
        self,
        *,
        site: str,
        doors: Sequence[DoorSpec],
        source: TickSource,
        mqtt: MqttSettings,
        occupancy: OccupancySettings | None = None,
        engine_factory: EngineFactory = default_engine,
        batch_max: int = 2000,
        idle_advance: float = 1.0,
        record: Path | None = None,
        layout: SiteLayout | None = None,
        corrections: Mapping[str, Correction] | None = None,
    ) -> None:
        self.corrections = corrections or {}
        self.site = site
        self.doors = tuple(doors)
        self.layout = layout or SiteLayout.default(d.door for d in doors)
        self.source = source
        self.mqtt = mqtt
        self.occupancy_settings = occupancy or OccupancySettings()
        self.engine_factory = engine_factory
        self.batch_max = batch_max
        self.idle_advance = idle_advance
        self.record = record
        self._stop = asyncio.Event()
        self._failure: ServiceError | None = None
        self.pipeline: Pipeline | None = None
        self.link: MqttLink | None = None
        self._announced: set[str] = set()
        """Discovery config topics announced by this run; others of this site are stale."""

    def request_stop(self) -> None:
        """Stop after the current batch (SIGTERM); state is committed, the link says offline."""
        self._stop.set()

    async def run(self, *, drain_timeout: float = 0.0) -> None:
        """Run until the source ends or `request_stop()`; then wait up to `drain_timeout` s
        for the outbox to empty (a replay wants everything delivered before exiting)."""
        from gateway.outputs.mqtt.client import MqttLink

        outbox = Outbox(
            self.mqtt.outbox_path,
            max_rows=self.mqtt.outbox_max_rows,
            policy=self.mqtt.outbox_policy,
            sync=self.mqtt.outbox_sync,
        )
        try:
            pipeline = self.pipeline = Pipeline(
                self.site,
                self.doors,
                self.mqtt,
                self.occupancy_settings,
                outbox,
                self.layout,
                self.corrections,
            )
            subscriptions = (
                [
                    f"{self.mqtt.discovery_prefix}/status",
                    f"{self.mqtt.discovery_prefix}/+/+/+/config",
                ]
                if self.mqtt.discovery
                else []
            )
            link = self.link = MqttLink(
                self.mqtt,
                self.site,
                outbox,
                on_message=self._on_message,
                subscriptions=subscriptions,
            )
            with outbox.batch() as batch:
                pipeline.announce(batch)
                if self.mqtt.discovery:
                    self._queue_discovery(batch, outbox)
            link_task = asyncio.create_task(link.run(), name="mqtt-link")
            link_task.add_done_callback(self._on_link_done)
            try:
                await self._pump(pipeline, link)
                if (
                    not self._stop.is_set()  # stopped (SIGTERM, a failed link): no drain
                    and drain_timeout > 0
                    and not await link.drained(drain_timeout)
                ):
                    log.warning(
                        "MQTT: %d messages still queued after %.0f s; they stay in %s",
                        outbox.depth,
                        drain_timeout,
                        outbox.path,
                    )
            finally:
                await link.stop()
                await asyncio.gather(link_task, return_exceptions=True)
        finally:
            outbox.close()
        if self._failure is not None:
            raise self._failure

    def _on_link_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._fail("the MQTT link", task.exception())

    def _fail(self, what: str, exc: BaseException | None, *, stop: bool = True) -> None:
        """Remember the first failure (`run` raises it once state is committed) and stop
        now, or (`stop=False`, a failed source) once what came before it is counted."""
        if self._failure is None and exc is not None:
            log.debug("%s failed", what, exc_info=exc)
            cause = str(exc) if isinstance(exc, DoorcountError) else f"{type(exc).__name__}: {exc}"
            next_step = getattr(exc, "next_step", None)
            if next_step:
                cause += f"; next: {next_step}"
            self._failure = ServiceError(f"{what} failed: {cause}")
            self._failure.__cause__ = exc
        if stop:
            self._stop.set()

    async def _pump(self, pipeline: Pipeline, link: MqttLink) -> None:
        snapshot = pipeline.outbox.get_blob("engine")
        engine = self.engine_factory(self.doors, snapshot)
        resume = dict(pipeline.checkpoint)
        if resume:
            log.info("resuming %d nodes from their checkpoints", len(resume))
            engine.continue_from(resume)  # a fresh engine must not wait for what came before
        recording = self._open_recording(pipeline, snapshot is not None)
        try:
            await self._feed(pipeline, link, engine, resume, recording)
        finally:
            if recording is not None:
                recording.close()

    def _open_recording(self, pipeline: Pipeline, restored: bool) -> DurableRecording | None:
        if self.record is None:
            return None
        from gateway.pipeline.recording import DurableRecording

        path = str(self.record.resolve())
        state = pipeline.outbox.get_state("recording")
        committed = state["bytes"] if state and state.get("path") == path else None
        if committed is None and restored:
            log.warning(
                "recording to %s starts from a restored engine: a replay of it will not "
                "reproduce the decisions of ticks fed before",
                path,
            )
        recording = DurableRecording(
            Path(path),
            TraceHeader(self.site, self.doors),
            committed,
            fsync=self.mqtt.outbox_sync == "full",
        )
        log.info("recording what the engine is fed to %s", path)
        pipeline.recorded = (path, recording.commit_point())
        if committed is None:  # from now on a restart continues this file
            with pipeline.outbox.batch() as batch:
                batch.set_state("recording", {"path": path, "bytes": pipeline.recorded[1]})
        return recording

    async def _feed(  # noqa: C901, PLR0912, PLR0915 - the main loop: batch, idle advance, end and failure
        self,
        pipeline: Pipeline,
        link: MqttLink,
        engine: EngineLike,
        resume: ResumePoints,
        recording: DurableRecording | None,
    ) -> None:
        recorder = recording.recorder if recording is not None else None

        def checkpoint() -> None:
            """The engine state, and the recording's length, to commit with the next batch."""
            pipeline.set_engine(engine)
            if recording is not None:
                pipeline.recorded = (str(recording.path), recording.commit_point())

        queue: asyncio.Queue[SourceItem | None] = asyncio.Queue(maxsize=4 * self.batch_max)

        async def read() -> None:
            try:
                async for item in self.source.stream(resume):
                    await queue.put(item)
            except Exception as exc:  # any failure of the source stops the service with it
                self._fail("the tick source", exc, stop=False)
            finally:
                await queue.put(None)

        reader = asyncio.create_task(read(), name="tick-source")
        stopper = asyncio.create_task(self._stop.wait())
        dropped = pipeline.outbox.dropped
        ended = False
        try:
            while not ended and not self._stop.is_set():
                getter = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait(
                    {getter, stopper},
                    timeout=self.idle_advance,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if getter not in done:
                    getter.cancel()
                    if not self._stop.is_set():  # idle: let time pass in the engine
                        now = self.source.now()
                        if recorder is not None:
                            recorder.advance(now)
                        pipeline.on_events(engine.advance(now))
                        checkpoint()
                        pipeline.commit(now=now)
                        link.notify()
                    continue
                items = [getter.result()]
                while len(items) < self.batch_max and not queue.empty():
                    items.append(queue.get_nowait())
                for item in items:
                    if item is None:
                        ended = True
                        break
                    if isinstance(item, Tick):
                        pipeline.on_tick(item)
                        if recorder is not None:
                            recorder.tick(item)
                        pipeline.on_events(engine.feed(item))
                    elif isinstance(item, BadgeHeard):
                        if recorder is not None:
                            recorder.badge(item)
                        pipeline.on_badge(engine, item)
                    else:
                        pipeline.on_status(item)
                if ended and self._failure is None:  # a failed source has not ended
                    pipeline.on_events(engine.finish())
                checkpoint()
                pipeline.commit(flush=ended and self._failure is None)
                link.notify()
                if pipeline.outbox.dropped != dropped:
                    log.warning(
                        "outbox full (%d rows): %d messages dropped by policy %s",
                        pipeline.outbox.max_rows,
                        pipeline.outbox.dropped - dropped,
                        pipeline.outbox.policy,
                    )
                    dropped = pipeline.outbox.dropped
        finally:
            reader.cancel()
            stopper.cancel()
            await asyncio.gather(reader, stopper, return_exceptions=True)

    def _on_message(self, topic: str, payload: bytes) -> None:
        if topic == f"{self.mqtt.discovery_prefix}/status" and payload.strip() == b"online":
            asyncio.get_running_loop().call_soon(self._reannounce)
        elif (
            topic.endswith("/config")
            and payload
            and topic not in self._announced
            and self._is_ours(payload)
        ):
            asyncio.get_running_loop().call_soon(self._clear_stale, topic)

    def _is_ours(self, payload: bytes) -> bool:
        """A discovery config this site's gateway published (its status topic in it), e.g.
        by a run whose outbox is gone (zigbee2mqtt clears its stale entities the same way)."""
        try:
            config = json.loads(payload)
        except ValueError:
            return False
        if not isinstance(config, dict) or config.get("origin", {}).get("name") != "doorcount":
            return False
        status = Topics(self.mqtt.prefix, self.site).status()
        availability = config.get("availability") or []
        topics = {a.get("topic") for a in availability if isinstance(a, dict)}
        return status in topics or config.get("state_topic") == status

    def _clear_stale(self, topic: str) -> None:
        pipeline, link = self.pipeline, self.link
        if pipeline is None or link is None or topic in self._announced:
            return
        log.info("Home Assistant: removing %s, which this gateway no longer announces", topic)
        with pipeline.outbox.batch() as batch:
            batch.enqueue(
                Message(
                    topic, b"", retain=True, priority=Priority.STATE, key=topic, qos=self.mqtt.qos
                )
            )
        link.notify()

    def _reannounce(self) -> None:
        pipeline, link = self.pipeline, self.link
        if pipeline is None or link is None:
            return
        log.info("Home Assistant is online: re-announcing discovery")
        with pipeline.outbox.batch() as batch:
            self._queue_discovery(batch, pipeline.outbox)
            pipeline.announce(batch)
        link.notify()

    def _queue_discovery(self, batch: Batch, outbox: Outbox) -> None:
        """Queue every discovery config, and empty retained configs for removed entities."""
        from gateway.outputs.mqtt.discovery import discovery_configs

        configs = discovery_configs(
            Topics(self.mqtt.prefix, self.site),
            self.doors,
            self.mqtt.discovery_prefix,
            zones=self.layout.zones if self.layout.explicit else (),
        )
        previous: list[str] = outbox.get_state("discovery_topics", [])
        for topic in previous:
            if topic not in configs:
                batch.enqueue(
                    Message(
                        topic,
                        b"",
                        retain=True,
                        priority=Priority.STATE,
                        key=topic,
                        qos=self.mqtt.qos,
                    )
                )
        for topic, config in configs.items():
            payload = json.dumps(config, separators=(",", ":"), sort_keys=True).encode()
            batch.enqueue(
                Message(
                    topic,
                    payload,
                    retain=True,
                    priority=Priority.STATE,
                    key=topic,
                    qos=self.mqtt.qos,
                )
            )
        batch.set_state("discovery_topics", sorted(configs))
        self._announced = set(configs)
