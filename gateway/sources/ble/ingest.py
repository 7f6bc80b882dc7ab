"""Keep every paired node connected through bleak and turn its notifications into ticks.

Only bleak's public API is used (`BleakScanner`, `BleakClient` with the configured backend), so
the same code runs on BlueZ and on bumble. Per node, a task loops: find the node's advert,
connect (attempts serialised across nodes: one pending LE connection per controller is the
portable rule), subscribe to status then ticks, wait for HELLO, send the RESUME that
`gateway.protocol.session` asks for (so no tick is lost across a reconnect or a reboot), then watch
the link: a disconnect or no STATUS for `silence_s` ends the session, and the task reconnects
with exponential backoff. Unknown, unbonded or impostor nodes are reported, never counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError, BleakGATTProtocolError

from gateway.errors import NOT_BONDED_ATT_CODES, BleError, NotBondedError
from gateway.protocol import wire
from gateway.protocol.gatt import (
    BATTERY_SERVICE_UUID,
    CONTROL_UUID,
    SERVICE_UUID,
    STATUS_UUID,
    TICK_UUID,
)
from gateway.protocol.session import NodeSession
from gateway.protocol.trace import BadgeHeard, Tick
from gateway.sources.ble.backend import Backend

logger = logging.getLogger(__name__)

ReportKind = Literal[
    "connected",  # subscribed and resumed: ticks flow
    "disconnected",  # the link went down
    "silent",  # connected but no STATUS for silence_s: dropped and reconnecting
    "connect_failed",  # not found, refused or timed out; retrying with backoff
    "not_bonded",  # the node refuses us: no (authenticated) bond; pair it again
    "wrong_node",  # the address answers with another node id: ignored
    "malformed",  # a frame that does not decode: counted and dropped
    "reboot",  # the node came back with a new boot id
]


@dataclass(frozen=True, slots=True)
class PairedNode:
    """A node this gateway has a bond with: its id (as in HELLO) and BLE address."""

    node: str
    address: str


@dataclass(frozen=True, slots=True)
class Report:
    kind: ReportKind
    node: str
    address: str
    t: float
    detail: str = ""


@dataclass(slots=True)
class NodeHealth:
    """What an installer or the health topic wants to know about one node's link."""

    node: str
    address: str
    connected: bool = False
    rssi: int | None = None
    """From the node's last advertisement (bleak has no portable connected-RSSI call)."""
    battery_pct: int | None = None
    last_seen: float | None = None
    """Gateway time of the last frame of any kind."""
    last_status: float | None = None
    boot: int | None = None
    connects: int = 0
    reconnects: int = 0
    silent_drops: int = 0
    failures: int = 0
    ticks: int = 0
    gaps: int = 0
    """Sequence numbers given up (the node no longer had them)."""
    duplicates: int = 0
    malformed: int = 0
    reboots: int = 0
    last_error: str | None = None
    answers_as: str | None = None
    """The node id the address last answered with when it was not this node's (wrong_node)."""


class WrongNodeError(BleError):
    """The address answered with another node id (already reported as wrong_node)."""


@dataclass(frozen=True, slots=True)
class IngestConfig:
    connect_timeout: float = 20.0
    hello_timeout: float = 5.0
    silence_s: float = 30.0
    """No STATUS for this long means a dead link (nodes send one every 5..3600 s: keep > 2x)."""
    backoff_min: float = 0.5
    backoff_max: float = 30.0
    scan_timeout: float = 10.0
    """How long to look for a node's advert before trying its address anyway."""
    advert_max_age: float = 30.0


STOP_S = 15.0
"""`Ingest.stop` waits this long for the node tasks: each closes its link within
`central.DISCONNECT_S` (plus a drain); longer means a wait on the radio that will never end."""

TicksFn = Callable[[list[Tick]], None]
ReportFn = Callable[[Report], None]


@dataclass(slots=True)
class _Node:
    paired: PairedNode
    session: NodeSession
    health: NodeHealth
    client: BleakClient | None = None
    seen: tuple[float, BLEDevice, AdvertisementData] | None = None
    found: asyncio.Event = field(default_factory=asyncio.Event)
    status_seen: asyncio.Event = field(default_factory=asyncio.Event)


def _raise_if_stopping() -> None:
    """Raise CancelledError if this task was asked to stop and an inner layer absorbed it.

    The request stays counted in `Task.cancelling()` even when a library (or an expiring
    `asyncio.timeout`) turned the CancelledError into another error: a node's loop must not
    go on reconnecting, or `Ingest.stop()` waits for it forever.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Ingest:
    """Connects `nodes` concurrently and hands their ticks, in receive order, to `on_ticks`.

    `clock` gives the gateway time stamped on each received frame (Unix seconds).
    """

    def __init__(
        self,
        backend: Backend,
        nodes: list[PairedNode],
        on_ticks: TicksFn,
        *,
        config: IngestConfig | None = None,
        on_report: ReportFn | None = None,
        clock: Callable[[], float] = time.time,
        resume: Mapping[str, tuple[int, int]] | None = None,
        on_badges: Callable[[list[BadgeHeard]], None] | None = None,
    ) -> None:
        names = [n.node for n in nodes]
        addresses = [n.address.upper() for n in nodes]
        if len(set(names)) != len(names) or len(set(addresses)) != len(addresses):
            raise BleError("each paired node needs its own id and address")
        self.backend = backend
        self.config = config or IngestConfig()
        self._on_ticks = on_ticks
        self._on_report = on_report
        self._on_badges = on_badges
        self._clock = clock
        self._nodes = {
            n.node: _Node(
                replace(n, address=n.address.upper()),
                NodeSession(n.node),
                NodeHealth(n.node, n.address.upper()),
            )
            for n in nodes
        }
        self._by_address = {n.paired.address: n for n in self._nodes.values()}
        # After a gateway restart, resume each node from what the restored engine consumed.
        for name, (boot, seq) in (resume or {}).items():
            if name in self._nodes:
                self._nodes[name].session.expect(boot, seq)
        self._connect_lock = asyncio.Lock()
        self._scan_lock = asyncio.Lock()
        self._scan_users = 0
        self._scanner: BleakScanner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._rng = random.Random()
        self.reports: list[Report] = []

    # Public API ---------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._keep_connected(n), name=f"ble-{n.paired.node}")
            for n in self._nodes.values()
        ]

    async def stop(self) -> None:
        """Cancel every node's task and wait for them to end (their links closed).

        Only the node tasks' cancellations are absorbed, never the caller's; a task still
        running after `STOP_S` (a radio wait that will not end) raises `BleError` naming it.
        """
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        stuck: set[asyncio.Task[None]] = set()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=STOP_S)
        if self._scanner is not None:
            scanner, self._scanner = self._scanner, None
            with contextlib.suppress(BleakError, BleError):
                await scanner.stop()
        if stuck:
            names = ", ".join(sorted(t.get_name().removeprefix("ble-") for t in stuck))
            raise BleError(f"BLE ingest: node tasks still running {STOP_S:g} s after stop: {names}")
        for task in tasks:
            if not task.cancelled() and (error := task.exception()) is not None:
                raise error

    def health(self) -> list[NodeHealth]:
        """A snapshot per node (copies: safe to keep)."""
        out = []
        for n in self._nodes.values():
            stats = n.session.stats
            h = replace(n.health)
            h.ticks, h.gaps, h.duplicates = stats.ticks, stats.skipped_seqs, stats.duplicate_ticks
            h.malformed, h.reboots, h.boot = stats.decode_errors, stats.reboots, n.session.boot
            out.append(h)
        return out

    def connected(self) -> int:
        return sum(1 for n in self._nodes.values() if n.health.connected)

    async def wait_connected(self, count: int | None = None) -> None:
        """Until `count` nodes (default: all) are connected and resumed."""
        want = len(self._nodes) if count is None else count
        while self.connected() < want:
            await asyncio.sleep(0.01)

    async def send(self, node: str, frame: wire.ControlFrame) -> None:
        """Write one control frame (IDENTIFY, SET_CONFIG, TIME_PING) to a connected node."""
        entry = self._nodes.get(node)
        if entry is None:
            raise BleError(f"node {node!r} is not paired with this gateway")
        client = entry.client
        if client is None or not entry.health.connected:
            raise BleError(f"node {node!r} is not connected", entry.paired.address)
        await client.write_gatt_char(CONTROL_UUID, bytes(frame), response=True)

    # Scanning -----------------------------------------------------------------------------

    def _on_advert(self, device: BLEDevice, adv: AdvertisementData) -> None:
        entry = self._by_address.get(device.address.upper())
        if entry is None:
            return
        entry.seen = (self._clock(), device, adv)
        entry.health.rssi = adv.rssi
        entry.found.set()

    async def _find(self, entry: _Node) -> BLEDevice | str:
        seen = entry.seen
        if seen is not None and self._clock() - seen[0] < self.config.advert_max_age:
            return seen[1]
        entry.found.clear()
        await self._scan(+1)
        try:
            async with asyncio.timeout(self.config.scan_timeout):
                await entry.found.wait()
        except TimeoutError:
            return entry.paired.address
        finally:
            await self._scan(-1)
        assert entry.seen is not None
        return entry.seen[1]

    async def _scan(self, delta: int) -> None:
        async with self._scan_lock:
            self._scan_users += delta
            if self._scan_users > 0 and self._scanner is None:
                scanner = BleakScanner(
                    self._on_advert, [SERVICE_UUID], **self.backend.scanner_kwargs()
                )
                await scanner.start()
                self._scanner = scanner
            elif self._scan_users == 0 and self._scanner is not None:
                scanner, self._scanner = self._scanner, None
                await scanner.stop()

    # Per-node loop ------------------------------------------------------------------------

    def _report(self, entry: _Node, kind: ReportKind, detail: str = "") -> None:
        report = Report(kind, entry.paired.node, entry.paired.address, self._clock(), detail)
        self.reports.append(report)
        level = logging.INFO if kind in ("connected", "disconnected") else logging.WARNING
        logger.log(level, "%s (%s) %s %s", report.node, report.address, kind, detail)
        if kind not in ("connected", "disconnected", "reboot"):
            entry.health.last_error = f"{kind}: {detail}" if detail else kind
        if self._on_report is not None:
            self._on_report(report)

    async def _keep_connected(self, entry: _Node) -> None:
        cfg = self.config
        backoff = cfg.backoff_min
        while True:
            started = self._clock()
            try:
                await self._connect_and_serve(entry)
            except NotBondedError as exc:
                entry.health.failures += 1
                self._report(entry, "not_bonded", str(exc))
                backoff = cfg.backoff_max
            except WrongNodeError:
                entry.health.failures += 1  # reported where it was found, with the id it gave
                backoff = cfg.backoff_max
            except BleakGATTProtocolError as exc:
                entry.health.failures += 1
                if exc.args and exc.args[0] in NOT_BONDED_ATT_CODES:
                    self._report(entry, "not_bonded", f"the node requires a bond ({exc})")
                    backoff = cfg.backoff_max
                else:
                    self._report(entry, "connect_failed", str(exc))
            except (BleakError, BleError, TimeoutError, OSError, wire.WireError) as exc:
                entry.health.failures += 1
                self._report(entry, "connect_failed", f"{type(exc).__name__}: {exc}")
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # we are being stopped
                # bumble cancels what was waiting on a link that just went down.
                entry.health.failures += 1
                self._report(entry, "connect_failed", "the link went down mid-operation")
            except Exception as exc:
                # A stack error we did not foresee must not end this node's reconnect loop.
                logger.exception("%s: unexpected error in the BLE session", entry.paired.node)
                entry.health.failures += 1
                self._report(entry, "connect_failed", f"{type(exc).__name__}: {exc}")
            finally:
                await self._drop(entry)
            _raise_if_stopping()
            if self._clock() - started > 4 * cfg.backoff_max:
                backoff = cfg.backoff_min  # it ran a good while: start the backoff afresh
            await asyncio.sleep(backoff * self._rng.uniform(0.8, 1.2))
            backoff = min(cfg.backoff_max, backoff * 2)

    async def _drop(self, entry: _Node) -> None:
        client, entry.client = entry.client, None
        if entry.health.connected:
            entry.health.connected = False
            self._report(entry, "disconnected")
        if client is not None:
            try:
                await client.disconnect()
            except (BleakError, BleError, TimeoutError, OSError) as exc:
                logger.warning("%s: disconnect failed: %s", entry.paired.node, exc)

    async def _connect_and_serve(self, entry: _Node) -> None:
        cfg = self.config
        target = await self._find(entry)
        logger.debug("%s: connecting to %s", entry.paired.node, target)
        loop = asyncio.get_running_loop()
        gone: asyncio.Future[None] = loop.create_future()

        def on_disconnected(_client: BleakClient) -> None:
            if not gone.done():
                gone.set_result(None)

        hello: asyncio.Future[wire.Hello] = loop.create_future()
        entry.status_seen.clear()
        client = BleakClient(
            target,
            on_disconnected,
            services=[SERVICE_UUID, BATTERY_SERVICE_UUID],
            timeout=cfg.connect_timeout,
            **self.backend.client_kwargs(),
        )
        entry.client = client
        async with self._connect_lock, asyncio.timeout(cfg.connect_timeout):
            await client.connect()
        logger.debug("%s: connected, subscribing", entry.paired.node)
        async with asyncio.timeout(cfg.connect_timeout):
            await client.start_notify(STATUS_UUID, lambda _c, data: self._on_frame(entry, data))
            await client.start_notify(
                TICK_UUID, lambda _c, data: self._on_frame(entry, data, hello)
            )
        try:
            async with asyncio.timeout(cfg.hello_timeout):
                said = await hello
                if said.node_id != entry.paired.node:
                    detail = f"it says it is {said.node_id!r}, not {entry.paired.node!r}"
                    entry.health.answers_as = said.node_id
                    self._report(entry, "wrong_node", detail)
                    raise WrongNodeError(f"node id mismatch: {detail}", entry.paired.address)
                # The node's STATUS anchors its sequence numbers for a boot we never saw.
                while (resume := entry.session.resume_request(said.boot_id)) is None:
                    entry.status_seen.clear()
                    await entry.status_seen.wait()
        except TimeoutError:
            raise BleError(
                f"no HELLO and STATUS within {cfg.hello_timeout:g} s", entry.paired.address
            ) from None
        await client.write_gatt_char(CONTROL_UUID, bytes(resume), response=True)
        health = entry.health
        health.connected = True
        health.answers_as = None
        health.connects += 1
        if health.connects > 1:
            health.reconnects += 1
        self._report(entry, "connected", f"boot {said.boot_id}, resume from {resume.seq}")
        last_status = self._clock()
        while True:
            # `asyncio.wait` times out without cancelling this task: a timeout made of a
            # cancellation, expiring as `stop()` cancels, could absorb the stop (seen on 3.11).
            await asyncio.wait({gone}, timeout=min(1.0, cfg.silence_s / 4))
            _raise_if_stopping()
            if gone.done():
                return
            if health.last_status is not None:
                last_status = max(last_status, health.last_status)
            if self._clock() - last_status > cfg.silence_s:
                health.silent_drops += 1
                self._report(entry, "silent", f"no STATUS for {cfg.silence_s:g} s")
                return

    def _on_frame(
        self, entry: _Node, data: bytearray, hello: asyncio.Future[wire.Hello] | None = None
    ) -> None:
        rx = self._clock()
        session = entry.session
        entry.health.last_seen = rx
        try:
            frame = wire.decode_frame(bytes(data))
        except wire.WireError as exc:
            session.on_decode_error(exc)
            self._report(entry, "malformed", str(exc))
            return
        reboots = session.stats.reboots
        ticks = session.on_frame(frame, rx)
        if session.stats.reboots != reboots:
            self._report(entry, "reboot", f"new boot {session.boot}")
        if isinstance(frame, wire.Status) and frame.boot_id == session.boot:
            entry.health.last_status = rx
            entry.health.battery_pct = frame.battery_pct
            entry.status_seen.set()
        elif isinstance(frame, wire.Hello) and hello is not None and not hello.done():
            hello.set_result(frame)
        if ticks:
            self._on_ticks(ticks)
        if isinstance(frame, wire.BadgeSeen):
            badges = session.take_badges()
            if self._on_badges is not None and badges:
                self._on_badges(badges)
