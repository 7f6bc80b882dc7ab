"""Wired nodes: ticks from serial ports (UART, USB CDC), as a tick source for `doorcount run`.

A port is opened by a spec string, `serial:/dev/ttyUSB0[,baud]` (the form bumble uses for its
transports). Each port is read without threads or polling: pyserial opens it non-blocking and
the event loop calls back when bytes are ready. Bytes go to a `FrameReader` (COBS + CRC:
garbage costs only itself and is counted), frames to the node's `NodeSession` stamped with the
gateway's receive time, ticks to the service.

Nothing is lost across a reopen, a node reboot or a gateway restart, by the protocol's own
means: the gateway answers every HELLO with a RESUME from the first tick the service has not
had of that boot (after a gateway restart: the service's resume point; for a boot never seen:
what its STATUS says is unsent). A node that goes on streaming without a new HELLO (a UART
node that never noticed the port closing) gets the same RESUME at its first batch; batches
before the RESUME are dropped unseen, as the RESUME asks for them again. The line keeps order,
so a hole in the sequence numbers, or a STATUS that counts more sent ticks than arrived, means
a packet was damaged: the gateway asks again from the hole. Frames are only believed after the
node's HELLO on the current open (or for a boot of it already known), so a node wired to the
wrong port is reported, never counted. Each tick reaches the service once per process
(duplicates from re-sends are counted and held back here). A port that disappears (USB
unplugged) is reopened with exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Self

from gateway.errors import DoorcountError
from gateway.protocol.framing import FrameReader, encode_packet
from gateway.protocol.seqwindow import SeqWindow
from gateway.protocol.session import NodeSession
from gateway.protocol.trace import DoorSpec, Tick
from gateway.protocol.wire import (
    U16,
    ControlFrame,
    Frame,
    Hello,
    Status,
    TickBatch,
    TimeEcho,
)
from gateway.protocol.wire import (
    Resume as ResumeFrame,
)
from gateway.sources.base import NodeStatus, ResumePoints, SourceItem

if TYPE_CHECKING:
    import serial

    from gateway.config import GatewayConfig

log = logging.getLogger(__name__)

SCHEME = "serial"
DEFAULT_BAUD = 115_200
BOOTS_KEPT = 4  # boots per node whose delivered sequence numbers are remembered
_READ_SIZE = 4096
BAD_BYTES_LOG_S = 10.0


class SerialSourceError(DoorcountError, ValueError):
    """A serial source was configured wrongly (bad spec, the same port twice)."""


class SerialLinkError(DoorcountError, OSError):
    """A port could not be opened, read or written; the source reopens it."""


@dataclass(frozen=True, slots=True)
class SerialSpec:
    """Where a wired node is: `serial:<device>[,<baud>]`, e.g. `serial:/dev/ttyUSB0,115200`."""

    device: str
    baud: int = DEFAULT_BAUD

    def __post_init__(self) -> None:
        if not self.device or "," in self.device:
            raise SerialSourceError(
                f"serial device must be a path without ',', got {self.device!r}"
            )
        if isinstance(self.baud, bool) or not isinstance(self.baud, int) or self.baud <= 0:
            raise SerialSourceError(f"baud rate must be a positive integer, got {self.baud!r}")

    @classmethod
    def parse(cls, text: str) -> Self:
        scheme, sep, rest = text.partition(":")
        if not sep or scheme != SCHEME:
            raise SerialSourceError(
                f"serial spec {text!r} must look like 'serial:/dev/ttyUSB0[,115200]'"
            )
        device, _, baud = rest.partition(",")
        if not baud:
            return cls(device)
        try:
            rate = int(baud)
        except ValueError:
            raise SerialSourceError(
                f"serial spec {text!r}: baud {baud!r} is not a number"
            ) from None
        return cls(device, rate)

    def __str__(self) -> str:
        return f"{SCHEME}:{self.device},{self.baud}"


@dataclass(frozen=True, slots=True)
class SerialPort:
    """One port to read; `node` is the node id wired to it, or None to take whoever says HELLO."""

    spec: SerialSpec
    node: str | None = None


@dataclass(slots=True)
class PortHealth:
    """One port and the node on it, as an installer or the health topic wants to see it."""

    port: str
    node: str | None
    connected: bool = False
    """The port is open and the node resumed on it."""
    opens: int = 0
    reopens: int = 0
    open_failures: int = 0
    last_seen: float | None = None
    """Gateway time of the last frame of any kind."""
    boot: int | None = None
    reboots: int = 0
    frames: int = 0
    ticks: int = 0
    """Ticks handed to the service (each once)."""
    duplicates: int = 0
    """Ticks received again (re-sends after a RESUME) and held back."""
    gaps: int = 0
    """Sequence numbers given up: the node no longer had them."""
    resends: int = 0
    """RESUMEs sent for a hole (a corrupted packet) or a tail a STATUS showed missing."""
    unresumed: int = 0
    """Tick batches dropped because they came before this open's RESUME (they are re-sent)."""
    unverified: int = 0
    """Frames dropped before the node's HELLO on this open (from a boot it never showed)."""
    crc_errors: int = 0
    framing_errors: int = 0
    decode_errors: int = 0
    bytes_discarded: int = 0
    wrong_node: int = 0
    ticks_dropped: int = 0
    """The node's own count of ticks overwritten before it could send them."""
    battery_mv: int | None = None
    battery_pct: int | None = None
    last_error: str | None = None

    @property
    def bad_frames(self) -> int:
        return self.crc_errors + self.framing_errors + self.decode_errors


@dataclass(slots=True)
class _Delivered(SeqWindow):
    """Sequence numbers of one boot handed to the service, so each tick goes out once.

    `next_seq` is set when the first RESUME for the boot is sent (what comes before it was
    consumed by an earlier run, or sent before our time); a hole is kept open, and asked for
    at every RESUME, until `MAX_OUT_OF_ORDER` later ticks arrived or the node rebooted.
    """

    asked: int | None = None  # a RESUME from here is outstanding


class _Link:
    """One port's state across opens."""

    def __init__(self, port: SerialPort) -> None:
        self.port = port
        self.health = PortHealth(str(port.spec), port.node)
        self.node = port.node  # known from config or an earlier HELLO
        self.serial: serial.Serial | None = None
        self.reader = FrameReader()  # one per port: its counters are the line's totals
        self.foreign = 0  # well-formed gateway -> node frames coming from the node's side
        self.logged_bad = 0
        self.log_after = 0.0
        self.resumed: set[int] = set()  # boots resumed on the current open
        self.greeted: set[int] = set()  # boots that said HELLO (as our node) on the current open
        self.pending: int | None = None  # a HELLO's boot waiting for STATUS before its RESUME
        self.lost: asyncio.Future[str] | None = None


class SerialSource:
    """Ticks from wired nodes, one node per port: a `gateway.sources.base.TickSource`.

    `stream(resume)` opens every port and yields `Tick` and `NodeStatus` items until `close()`
    (or until the consumer stops iterating). `clock` stamps each received frame (Unix seconds).
    """

    def __init__(
        self,
        ports: Sequence[SerialPort],
        *,
        clock: Callable[[], float] = time.time,
        backoff_min: float = 0.2,
        backoff_max: float = 10.0,
        write_timeout: float = 1.0,
    ) -> None:
        devices = [p.spec.device for p in ports]
        if len(set(devices)) != len(devices):
            raise SerialSourceError(f"a serial device is listed twice: {sorted(devices)}")
        named = [p.node for p in ports if p.node is not None]
        if len(set(named)) != len(named):
            raise SerialSourceError(f"a node is wired to two ports: {sorted(named)}")
        if not ports:
            raise SerialSourceError("a serial source needs at least one port")
        if not 0 < backoff_min <= backoff_max:
            raise SerialSourceError(
                f"backoff must satisfy 0 < min <= max, got {backoff_min}..{backoff_max}"
            )
        self._links = [_Link(p) for p in ports]
        self._clock = clock
        self._backoff = (backoff_min, backoff_max)
        self._write_timeout = write_timeout
        self._sessions: dict[str, NodeSession] = {}
        self._delivered: dict[tuple[str, int], _Delivered] = {}
        self._resume: dict[str, tuple[int, int]] = {}
        self._queue: asyncio.Queue[SourceItem | None] = asyncio.Queue()
        self._rng = random.Random()

    # -- TickSource --------------------------------------------------------------------

    def now(self) -> float:
        return self._clock()

    async def stream(self, resume: ResumePoints) -> AsyncIterator[SourceItem]:
        self._resume = dict(resume)
        loop = asyncio.get_running_loop()
        tasks = [
            loop.create_task(self._keep_open(link), name=f"serial-{link.port.spec.device}")
            for link in self._links
        ]
        try:
            while (item := await self._queue.get()) is not None:
                yield item
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def close(self) -> None:
        """End the stream (after what is already queued); ports close as it ends."""
        self._queue.put_nowait(None)

    # -- control and health ------------------------------------------------------------

    def health(self) -> list[PortHealth]:
        """A copy per port, with the line's and the node session's counters folded in."""
        return [self._health(link) for link in self._links]

    def _health(self, link: _Link) -> PortHealth:
        h = replace(link.health)
        s = link.reader.stats
        h.crc_errors, h.framing_errors = s.crc_errors, s.framing_errors
        h.decode_errors = s.decode_errors + link.foreign
        h.bytes_discarded = s.bytes_discarded
        session = self._sessions.get(link.node) if link.node is not None else None
        if session is not None:
            h.reboots = session.stats.reboots
        return h

    def session(self, node: str) -> NodeSession | None:
        """The node's session (its last STATUS, TIME_ECHO and counters), once it spoke."""
        return self._sessions.get(node)

    def send(self, node: str, frame: ControlFrame) -> None:
        """Write one control frame (IDENTIFY, SET_CONFIG, TIME_PING, RESUME) to a wired node."""
        for link in self._links:
            if link.node == node:
                if link.serial is None or not link.health.connected:
                    raise SerialLinkError(f"node {node!r} on {link.health.port} is not connected")
                self._write(link, frame)
                return
        raise SerialSourceError(f"node {node!r} is on none of this source's ports")

    # -- per port ----------------------------------------------------------------------

    async def _keep_open(self, link: _Link) -> None:
        low, high = self._backoff
        backoff = low
        while True:
            try:
                self._open(link)
            except SerialLinkError as exc:
                link.health.open_failures += 1
                if link.health.last_error != str(exc):
                    log.warning("%s", exc)  # once per kind of failure, not every retry
                link.health.last_error = str(exc)
            else:
                opened = asyncio.get_running_loop().time()
                reason = await self._serve(link)
                log.warning("%s: port lost (%s); reopening", link.health.port, reason)
                link.health.last_error = f"port lost: {reason}"
                if asyncio.get_running_loop().time() - opened > high:
                    backoff = low  # it ran a good while: not a flapping port
            await asyncio.sleep(backoff * self._rng.uniform(0.8, 1.2))
            backoff = min(high, backoff * 2)

    def _open(self, link: _Link) -> None:
        import serial

        spec = link.port.spec
        try:
            port = serial.Serial(
                spec.device,
                spec.baud,
                timeout=0,
                write_timeout=self._write_timeout,
                exclusive=True,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise SerialLinkError(f"cannot open {spec}: {exc}") from None
        link.serial = port
        link.reader.feed(b"\x00")  # a packet cut short by the close is junk (and counted)
        link.resumed = set()
        link.greeted = set()
        link.pending = None
        health = link.health
        health.opens += 1
        if health.opens > 1:
            health.reopens += 1
        log.info("%s: open", health.port)

    async def _serve(self, link: _Link) -> str:
        port = link.serial
        assert port is not None
        loop = asyncio.get_running_loop()
        link.lost = loop.create_future()
        fd = port.fileno()
        loop.add_reader(fd, self._on_readable, link)
        try:
            return await link.lost
        finally:
            loop.remove_reader(fd)
            link.lost = None
            link.serial = None
            with contextlib.suppress(Exception):
                port.close()
            if link.health.connected:
                link.health.connected = False
                self._status(link, connected=False)

    def _lose(self, link: _Link, reason: str) -> None:
        if link.lost is not None and not link.lost.done():
            link.lost.set_result(reason)

    def _on_readable(self, link: _Link) -> None:
        import serial

        port = link.serial
        if port is None or link.lost is None or link.lost.done():
            return
        try:
            data = port.read(_READ_SIZE)
        except (serial.SerialException, OSError) as exc:
            self._lose(link, str(exc))
            return
        if not data:
            return
        rx = self._clock()
        for frame in link.reader.feed(data):
            self._on_frame(link, frame, rx)
            if link.lost.done():
                break
        self._log_bad_bytes(link, rx)

    def _log_bad_bytes(self, link: _Link, now: float) -> None:
        """Warn about line noise at most every BAD_BYTES_LOG_S per port, with the count."""
        h = self._health(link)
        bad = h.bad_frames
        if bad > link.logged_bad and now >= link.log_after:
            log.warning(
                "%s: %d bad packets (%d bytes skipped so far), last: %s",
                h.port,
                bad - link.logged_bad,
                h.bytes_discarded,
                link.reader.stats.last_error,
            )
            link.logged_bad = bad
            link.log_after = now + BAD_BYTES_LOG_S

    # -- frames ------------------------------------------------------------------------

    def _on_frame(self, link: _Link, frame: Frame, rx: float) -> None:  # noqa: PLR0912 - one branch per frame kind
        health = link.health
        if isinstance(frame, ControlFrame):
            link.foreign += 1
            health.last_error = f"{frame.TYPE.name} is a gateway -> node frame"
            return
        if isinstance(frame, Hello):
            if link.port.node is not None and frame.node_id != link.port.node:
                health.wrong_node += 1
                health.last_error = (
                    f"{health.port} is wired to {link.port.node!r}, "
                    f"but {frame.node_id!r} says HELLO there"
                )
                log.warning("%s", health.last_error)
                return
            if link.node != frame.node_id:
                self._claim(link, frame.node_id)
            link.greeted.add(frame.boot_id)
        node = link.node
        if node is None or not self._known(link, node, frame.boot_id):
            # No HELLO on this open yet, and not a boot this node had: whose frame is this?
            health.unverified += 1
            return
        health.frames += 1
        health.last_seen = rx
        if isinstance(frame, TickBatch) and frame.boot_id not in link.resumed:
            health.unresumed += 1  # before this open's RESUME for it: it will be sent again
            if link.pending is None:
                link.pending = frame.boot_id  # a node that never saw our HELLO answer
                self._try_resume(link)
            return
        session = self._session(node)
        ticks = session.on_frame(frame, rx)
        match frame:
            case Hello():
                health.boot = frame.boot_id
                link.pending = frame.boot_id  # every HELLO is answered: it may have missed ours
                self._try_resume(link)
            case Status():
                health.battery_mv, health.battery_pct = frame.battery_mv, frame.battery_pct
                health.ticks_dropped = frame.ticks_dropped
                if link.pending == frame.boot_id or frame.boot_id not in link.resumed:
                    link.pending = frame.boot_id
                    self._try_resume(link)
                else:
                    self._check_tail(link, node, frame)
                if health.connected:
                    self._status(link, connected=True)
            case TimeEcho():
                pass  # kept in the session (`session(node).stats.time_echo`) for clock fits
            case TickBatch():
                self._deliver(link, frame, ticks)
            case _:
                pass  # BADGE_SEEN stays in the session (`session(node).take_badges()`)

    def _known(self, link: _Link, node: str, boot: int) -> bool:
        """A frame of `boot` on this port is `node`'s: it said HELLO, or had that boot before."""
        if boot in link.greeted or (node, boot) in self._delivered:
            return True
        point = self._resume.get(node)
        return point is not None and point[0] == boot

    def _claim(self, link: _Link, node: str) -> None:
        for other in self._links:
            if other is not link and other.node == node:
                other.node = other.port.node  # the node was moved to this port
        if link.node is not None:
            log.info("%s: node %s replaced by %s", link.health.port, link.node, node)
        link.node = node
        link.health.node = node

    def _session(self, node: str) -> NodeSession:
        session = self._sessions.get(node)
        if session is None:
            session = self._sessions[node] = NodeSession(node)
        return session

    def _resume_from(self, node: str, boot: int) -> int | None:
        """The first sequence number of `boot` the service still needs, if known."""
        delivered = self._delivered.get((node, boot))
        if delivered is not None:
            return delivered.next_seq
        point = self._resume.get(node)
        if point is not None and point[0] == boot:
            return point[1]  # the boot the service stopped in: resend from its checkpoint
        session = self._sessions.get(node)
        status = session.stats.status if session is not None else None
        if status is not None and status.boot_id == boot:
            # A boot met for the first time: what it sent before went to someone else.
            return status.next_seq - status.ticks_buffered
        return None  # wait for its STATUS

    def _try_resume(self, link: _Link) -> None:
        boot, node = link.pending, link.node
        assert boot is not None
        assert node is not None
        seq = self._resume_from(node, boot)
        if seq is None:
            return
        key = (node, boot)
        if key not in self._delivered:
            self._new_boot(link, key, seq)
        link.pending = None
        link.resumed.add(boot)
        delivered = self._delivered[key]
        delivered.asked = seq
        if not self._write(link, ResumeFrame(boot, seq & U16)):
            return
        if not link.health.connected:
            link.health.connected = True
            log.info("%s: node %s boot %d resumed from %d", link.health.port, node, boot, seq)
            self._status(link, connected=True)

    def _new_boot(self, link: _Link, key: tuple[str, int], seq: int) -> None:
        """Start tracking a boot; holes left in the node's older boots are given up."""
        node = key[0]
        older = [k for k in self._delivered if k[0] == node]
        for old in older:
            link.health.gaps += self._delivered[old].give_up_all()
        for old in older[: max(0, len(older) - BOOTS_KEPT + 1)]:
            del self._delivered[old]
        self._delivered[key] = _Delivered(seq)

    def _deliver(self, link: _Link, batch: TickBatch, ticks: list[Tick]) -> None:
        if not ticks:
            return
        node, boot = ticks[0].node, batch.boot_id
        delivered = self._delivered.get((node, boot))
        health = link.health
        if delivered is None:
            health.unresumed += 1  # a boot long forgotten
            return
        base = ticks[0].seq
        if delivered.asked is not None and base <= delivered.highest:
            # A rewind: the answer to our RESUME starts at the oldest tick the node still has.
            delivered.asked = None
            skipped = delivered.give_up_below(base)
            if skipped:
                health.gaps += skipped
                log.warning(
                    "%s: node %s boot %d no longer had %d ticks", health.port, node, boot, skipped
                )
        for tick in ticks:
            if delivered.take(tick.seq):
                health.ticks += 1
                self._queue.put_nowait(tick)
            else:
                health.duplicates += 1
        skipped = delivered.give_up_overflow()
        if skipped:
            health.gaps += skipped
            log.warning(
                "%s: node %s boot %d: %d ticks never arrived, given up",
                health.port,
                node,
                boot,
                skipped,
            )
        if not delivered.missing:
            delivered.asked = None
        elif delivered.asked is None:
            self._ask(link, boot, delivered)  # a hole: a packet was lost on the line

    def _check_tail(self, link: _Link, node: str, status: Status) -> None:
        """A STATUS says what the node has sent; the line is in order, so all of it is here."""
        delivered = self._delivered.get((node, status.boot_id))
        if delivered is None:
            return
        sent = status.next_seq - status.ticks_buffered
        if delivered.missing or delivered.next_seq < sent:
            self._ask(link, status.boot_id, delivered)

    def _ask(self, link: _Link, boot: int, delivered: _Delivered) -> None:
        delivered.asked = delivered.next_seq
        link.health.resends += 1
        self._write(link, ResumeFrame(boot, delivered.next_seq & U16))

    def _status(self, link: _Link, *, connected: bool) -> None:
        if link.node is None:
            return
        h = link.health
        self._queue.put_nowait(
            NodeStatus(
                node=link.node,
                t=self._clock(),
                connected=connected,
                battery_pct=h.battery_pct,
                battery_mv=h.battery_mv,
                reconnects=h.reopens,
                duplicates=h.duplicates,
                ticks_dropped=h.ticks_dropped,
                bad_frames=self._health(link).bad_frames + h.wrong_node,
            )
        )

    def _write(self, link: _Link, frame: ControlFrame) -> bool:
        import serial

        port = link.serial
        if port is None:
            return False
        try:
            port.write(encode_packet(frame))
        except (serial.SerialException, OSError) as exc:
            self._lose(link, f"write failed: {exc}")
            return False
        return True


def serial_from_config(gateway: GatewayConfig) -> tuple[str, list[DoorSpec], SerialSource]:
    """Site, doors and a serial source for `doorcount run` with `[source] kind = "serial"`.

    The wired nodes are the `[[nodes]]` with a `serial` spec, the doors are `[[doors]]` (and
    the pairing registry); `[source]` may set `backoff_min_s` / `backoff_max_s` for reopening
    a lost port.
    """
    from gateway.config import SerialSourceConfig
    from gateway.errors import ConfigError

    table = gateway.source
    assert isinstance(table, SerialSourceConfig)
    assert gateway.site is not None
    ports = []
    for node in gateway.nodes:
        if node.serial is not None:
            try:
                ports.append(SerialPort(SerialSpec.parse(node.serial), node.id))
            except SerialSourceError as exc:
                raise ConfigError(f"node {node.id}: {exc}") from None
    if not ports:
        raise ConfigError(
            'a serial source needs [[nodes]] with serial = "serial:/dev/ttyUSB0,115200"'
        )
    doors = gateway.door_specs()
    if not doors:
        raise ConfigError("no door has both beams: add [[doors]] with outer and inner")
    source = SerialSource(ports, backoff_min=table.backoff_min_s, backoff_max=table.backoff_max_s)
    return gateway.site, doors, source
