"""`sensor-sim serve-serial`: wired beam nodes on pseudo-terminals, for the gateway's serial ingest.

Each node of a trace (or of a freshly simulated scenario) is a `TwinNode`, the firmware core
itself, speaking protocol v1 in serial framing (`00 | COBS(frame | crc16) | 00`) on its own
pty. Open the printed slave path as `serial:/dev/pts/N`. The glue follows the firmware's BLE
glue, with the port's open state in place of the connection (as USB CDC's DTR): while nobody
holds the port open the node sends nothing; once opened it repeats HELLO + STATUS until the
gateway writes its first control frame, then sends TICK_BATCHes when due and a STATUS every
STATUS_INTERVAL_S. RESUME, TIME_PING, IDENTIFY and SET_CONFIG go to the firmware core.

A trace's ticks are already past the node's glitch filter, so the served node starts with the
filter off: it sends exactly the trace's ticks (per boot, in sequence order; a new boot of the
trace is a reboot of the twin). Node time runs at `speed` x wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import os
import select
import struct
import tty
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.protocol.framing import FrameReader, cobs_encode, crc16
from gateway.protocol.session import unwrap
from gateway.protocol.wire import U16, ConfigKey, FrameType, SetConfig, TickBatch, WireError

if TYPE_CHECKING:
    from gateway.protocol.trace import TraceHeader
    from sensor_sim.twin import TwinNode

log = logging.getLogger(__name__)

HELLO_REPEAT_US = 1_000_000  # as the firmware: HELLO + STATUS again until the first control write
MIN_WALL_PERIOD = 0.05  # s: at high speed, HELLO and STATUS no more often than this
DISCONNECTED_POLL = 0.05  # s: how often a closed port is checked for being opened again
BOOT_LEAD_US = 500_000  # a boot's clock starts this long before its first edge


@dataclass(frozen=True, slots=True)
class Edge:
    node_us: int
    beam: int
    broken: bool


@dataclass(frozen=True, slots=True)
class Boot:
    """One boot of a node to serve: its id and its edges in sequence (= time) order."""

    boot_id: int
    edges: tuple[Edge, ...]

    @property
    def broken_at_boot(self) -> tuple[int, ...]:
        """Beams already broken when the node booted: their first edge clears them."""
        first: dict[int, bool] = {}
        for e in self.edges:
            first.setdefault(e.beam, e.broken)
        return tuple(sorted(beam for beam, broken in first.items() if not broken))


@dataclass(frozen=True, slots=True)
class SentTick:
    node: str
    boot: int
    seq: int
    node_us: int
    beam: int
    broken: bool


def packet(frame: bytes) -> bytes:
    """A frame as the node writes it to the line."""
    return b"\x00" + cobs_encode(frame + struct.pack("<H", crc16(frame))) + b"\x00"


def boots_from_trace(ticks: Sequence[Any]) -> dict[str, list[Boot]]:
    """Per node, its boots in order of first reception, each tick once, in sequence order."""
    edges: dict[str, dict[int, dict[int, Edge]]] = {}
    for t in ticks:
        per_boot = edges.setdefault(t.node, {})
        per_boot.setdefault(t.boot, {}).setdefault(t.seq, Edge(t.node_us, t.beam, t.broken))
    return {
        node: [
            Boot(boot, tuple(e for _, e in sorted(seqs.items()))) for boot, seqs in boots.items()
        ]
        for node, boots in edges.items()
    }


class WiredNode:
    """One simulated wired node on a pty; `run()` serves it until cancelled.

    `link`, if given, is a symlink kept pointing at the current slave (a stable name across
    `unplug()` / `plug()`, like a udev rule's /dev/doorcount-n01). `sent` records every tick
    the node wrote at least once; `finished` is set when every scheduled tick was written.
    With `dtr` the node sees the port being opened and closed (USB CDC) and starts each
    session with HELLO; without, it is a bare UART: once greeted it streams on, into the void
    while nobody listens.
    """

    def __init__(
        self,
        node_id: str,
        boots: Sequence[Boot],
        *,
        beams: Sequence[int] = (0, 1),
        speed: float = 1.0,
        link: Path | None = None,
        flush_on_reboot: bool = True,
        glitch_filter_us: int = 0,
        dtr: bool = True,
    ) -> None:
        from sensor_sim.twin import TwinNode

        if not boots:
            raise ValueError(f"node {node_id!r} has nothing to serve")
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.node_id = node_id
        self.speed = speed
        self.link = link
        self.flush_on_reboot = flush_on_reboot
        self.dtr = dtr
        self._glitch_filter_us = glitch_filter_us
        self._boots = list(boots)
        self._boot_index = 0
        self._edge_index = 0
        first = self._boots[0]
        self.twin: TwinNode = TwinNode(node_id, beams, first.boot_id, broken=first.broken_at_boot)
        self.slave_path: str | None = None
        self.sent: dict[tuple[int, int], SentTick] = {}
        self.writes: list[bytes] = []
        """Every frame written, in order (tests read the controls' effects off these)."""
        self.controls: list[bytes] = []
        self.finished = asyncio.Event()
        self.greeted = False
        self._master: int | None = None
        self._connected = False
        self._reading = False
        self._reader = FrameReader()
        self._out = bytearray()  # the UART's transmit buffer, when the line is full
        self._wake = asyncio.Event()
        self._anchor = (0.0, 0)  # (wall, node_us)
        self._next_hello = 0.0
        self._next_status = 0.0
        self._seq_ref: dict[int, int] = {}
        self._corrupt = 0

    # -- the line --------------------------------------------------------------------

    def plug(self) -> str:
        """Create the pty (a new device node, as after re-plugging USB); returns its path."""
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo or line editing, even before the gateway configures it
        path = os.ttyname(slave)
        os.close(slave)  # the gateway's open is what makes the port "connected"
        os.set_blocking(master, False)
        self._master = master
        self.slave_path = path
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(path)
            tmp.replace(self.link)
        self._wake.set()
        return path

    def unplug(self) -> None:
        """The device vanishes: the gateway's open port fails, bytes in flight are lost."""
        self._disconnected()
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
        if self._master is not None:
            os.close(self._master)
        self._master = None
        self._out.clear()
        self._wake.set()

    def inject(self, data: bytes) -> None:
        """Write raw bytes on the line (a boot banner, electrical noise)."""
        self._write(bytes(data))

    def corrupt(self, batches: int) -> None:
        """Line noise: flip one bit in each of the next `batches` TICK_BATCH packets."""
        self._corrupt += batches

    def close(self) -> None:
        if self._master is not None:
            self.unplug()

    def _poll_connected(self) -> bool:
        if self._master is None:
            return False
        poller = select.poll()
        poller.register(self._master, select.POLLIN | select.POLLHUP)
        return not any(ev & select.POLLHUP for _, ev in poller.poll(0))

    def _connected_now(self) -> None:
        self._connected = True
        if self.dtr:
            self.greeted = False
            self._next_hello = 0.0
        self._reader = FrameReader()
        assert self._master is not None
        asyncio.get_running_loop().add_reader(self._master, self._on_readable)
        self._reading = True
        log.info("%s: port opened by the gateway", self.node_id)

    def _disconnected(self) -> None:
        if self._reading and self._master is not None:
            asyncio.get_running_loop().remove_reader(self._master)
        self._reading = False
        if self._connected:
            log.info("%s: port closed", self.node_id)
        self._connected = False
        if self.dtr:
            self.greeted = False
        self._out.clear()  # a closed port drops what is queued

    def _on_readable(self) -> None:
        assert self._master is not None
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            self._disconnected()  # the gateway closed the port
            self._wake.set()
            return
        for frame in self._reader.feed(data):
            raw = bytes(frame)
            self.controls.append(raw)
            self.greeted = True
            try:
                reply = self.twin.on_control(raw, self._node_now(self._wall()))
            except WireError as exc:
                log.warning("%s: %s", self.node_id, exc)
                continue
            if reply is not None:
                self._send(reply)
        self._wake.set()

    def _write(self, data: bytes) -> None:
        if self._master is None or not self._connected:
            return  # nobody has the port open: the bytes are gone
        self._out += data
        self._flush()

    def _flush(self) -> None:
        assert self._master is not None
        while self._out:
            try:
                n = os.write(self._master, self._out)
            except BlockingIOError:
                return  # the gateway is not reading: hold the rest
            except OSError as exc:
                if exc.errno != errno.EIO:
                    raise
                self._disconnected()
                return
            del self._out[:n]

    def _send(self, frame: bytes) -> None:
        self.writes.append(frame)
        data = packet(frame)
        if self._corrupt and frame[0] == FrameType.TICK_BATCH:
            self._corrupt -= 1
            middle = len(data) // 2
            flipped = data[middle] ^ 0x01 or 0x02
            data = data[:middle] + bytes((flipped,)) + data[middle + 1 :]
        self._write(data)

    # -- time ------------------------------------------------------------------------

    @staticmethod
    def _wall() -> float:
        return asyncio.get_running_loop().time()

    def _clock(self, wall: float) -> int:
        w0, c0 = self._anchor
        return c0 + int((wall - w0) * self.speed * 1e6)

    def _node_now(self, wall: float) -> int:
        """The node clock, never past an edge not yet fed, never back."""
        now = self._clock(wall)
        edges = self._boots[self._boot_index].edges
        if self._edge_index < len(edges):
            now = min(now, edges[self._edge_index].node_us)
        return max(now, self.twin.now_us)

    def _start_boot(self, wall: float) -> None:
        boot = self._boots[self._boot_index]
        first = boot.edges[0].node_us if boot.edges else BOOT_LEAD_US
        self._anchor = (wall, max(0, first - BOOT_LEAD_US))
        self._edge_index = 0
        self.twin.advance(self._anchor[1])
        if self._glitch_filter_us != self.twin.config.glitch_filter_us:
            self.twin.on_control(
                bytes(SetConfig(ConfigKey.GLITCH_FILTER_US, self._glitch_filter_us))
            )
        self.greeted = False
        self._next_hello = 0.0
        self._next_status = wall

    # -- the node's loop -------------------------------------------------------------

    async def run(self) -> None:
        if self._master is None:
            self.plug()
        self._start_boot(self._wall())
        try:
            while True:
                delay = self._step(self._wall())
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
        finally:
            self.close()

    def _step(self, wall: float) -> float:
        """Do what is due at `wall`; returns how long to sleep at most."""
        connected = self._poll_connected()
        if connected and not self._connected:
            self._connected_now()
        elif not connected and self._connected:
            self._disconnected()
        twin = self.twin
        boot = self._boots[self._boot_index]
        clock = self._clock(wall)
        while self._edge_index < len(boot.edges) and boot.edges[self._edge_index].node_us <= clock:
            e = boot.edges[self._edge_index]
            twin.edge(e.beam, e.broken, max(e.node_us, twin.now_us))
            self._edge_index += 1
        now = self._node_now(wall)
        twin.advance(now)
        period_us = max(MIN_WALL_PERIOD * self.speed * 1e6, HELLO_REPEAT_US)
        if self._connected or not self.dtr:  # a bare UART talks whether heard or not
            if self._out:
                self._flush()
            if not self.greeted and wall >= self._next_hello:
                self._send(twin.hello())
                self._send(twin.status(now))
                self._next_hello = wall + period_us / self.speed / 1e6
                self._next_status = wall + self._status_period()
            if wall >= self._next_status:
                self._send(twin.status(now))
                self._next_status = wall + self._status_period()
            while self.greeted and not self._out:
                frame = twin.take_batch(now_us=now)
                if frame is None:
                    break
                self._record(frame)
                self._send(frame)
        last = boot.edges[-1].node_us if boot.edges else 0
        done = (
            self._edge_index == len(boot.edges)
            and now >= last + twin.config.glitch_filter_us  # the last edge is in the ring
        )
        if done and (twin.unsent == 0 or not self.flush_on_reboot):
            if self._boot_index + 1 < len(self._boots):
                self._boot_index += 1
                nxt = self._boots[self._boot_index]
                twin.reboot(nxt.boot_id, broken=nxt.broken_at_boot)
                log.info("%s: rebooted as boot %d", self.node_id, twin.boot_id)
                self._start_boot(wall)
                return 0.0
            if twin.unsent == 0:
                self.finished.set()
        return self._sleep(wall, now)

    def _status_period(self) -> float:
        return max(MIN_WALL_PERIOD, self.twin.config.status_interval_s / self.speed)

    def _sleep(self, wall: float, now: int) -> float:
        waits = [self._next_status - wall]
        if not self._connected:
            waits.append(DISCONNECTED_POLL)
        elif not self.greeted:
            waits.append(self._next_hello - wall)
        elif self._out:
            waits.append(0.005)  # the line is full: try again soon
        edges = self._boots[self._boot_index].edges
        if self._edge_index < len(edges):
            waits.append((edges[self._edge_index].node_us - now) / self.speed / 1e6)
        due = self.twin.wakeup()
        if due is not None:
            waits.append((due - now) / self.speed / 1e6)
        return max(0.0, min(waits))

    def _record(self, frame: bytes) -> None:
        batch = TickBatch.from_bytes(frame)
        ref = self._seq_ref.get(batch.boot_id, 0)
        base = unwrap(batch.base_seq, ref, U16 + 1)
        for i, t in enumerate(batch.ticks):
            key = (batch.boot_id, base + i)
            self.sent.setdefault(
                key,
                SentTick(
                    self.node_id,
                    batch.boot_id,
                    base + i,
                    batch.epoch << 32 | t.node_us,
                    t.beam,
                    t.broken,
                ),
            )
        self._seq_ref[batch.boot_id] = max(ref, base + len(batch.ticks))


def node_beams(header: TraceHeader, node: str, boots: Sequence[Boot]) -> tuple[int, ...]:
    """The beam channels wired on `node`: named by a door, or seen in its ticks."""
    beams = {b.beam for d in header.doors for b in (d.outer, d.inner) if b.node == node}
    beams |= {e.beam for boot in boots for e in boot.edges}
    return tuple(sorted(beams)) or (0,)


def nodes_for(
    header: TraceHeader, ticks: Sequence[Any], speed: float, link_dir: Path | None = None
) -> list[WiredNode]:
    out = []
    for node, boots in sorted(boots_from_trace(ticks).items()):
        link = link_dir / node if link_dir is not None else None
        out.append(
            WiredNode(node, boots, beams=node_beams(header, node, boots), speed=speed, link=link)
        )
    return out


# -- CLI ---------------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve-serial",
        help="play a trace's nodes as wired nodes, one pseudo-terminal each",
        description=(
            "Serve each node of a trace (or of a simulated scenario) as a wired node running "
            "the firmware core, on its own pty: prints 'NODE serial:/dev/pts/N' per node, then "
            "serves until interrupted (or --linger after the last tick)."
        ),
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--trace", type=Path, help="doorcount-trace v1 file to serve")
    what.add_argument("--scenario", help="simulate this preset (see `sensor-sim scenarios`)")
    p.add_argument("--duration", help="with --scenario: e.g. 90s, 10m (default: the preset's)")
    p.add_argument("--seed", type=int, default=0, help="with --scenario: random seed")
    p.add_argument("--speed", type=float, default=1.0, help="node time per wall time (> 0)")
    p.add_argument(
        "--link-dir", type=Path, help="also keep a symlink DIR/<node> to each node's pty"
    )
    p.add_argument(
        "--linger",
        type=float,
        help="exit this many seconds after every tick was sent (default: serve until stopped)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from gateway.errors import ConfigError
    from gateway.protocol.trace import Tick, open_trace

    if not args.speed > 0:
        raise ConfigError(f"--speed must be > 0, got {args.speed}")
    if args.trace is not None:
        with open_trace(args.trace) as reader:
            header = reader.header
            ticks = [r for r in reader if isinstance(r, Tick)]
    else:
        from sensor_sim.generator import generate, resolve
        from sensor_sim.scenarios import parse_duration

        scenario = resolve(args.scenario)
        duration = parse_duration(args.duration) if args.duration else scenario.duration_s
        header, records = generate(scenario, duration, args.seed)
        ticks = [r for r in records if isinstance(r, Tick)]
    if not ticks:
        raise ConfigError("nothing to serve: the trace has no ticks")
    if args.link_dir is not None:
        args.link_dir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_serve(nodes_for(header, ticks, args.speed, args.link_dir), args.linger))


async def _serve(nodes: list[WiredNode], linger: float | None) -> int:
    import signal

    for node in nodes:
        path = node.plug()
        print(f"{node.node_id} serial:{path}", flush=True)
    tasks = [asyncio.create_task(n.run(), name=f"wired-{n.node_id}") for n in nodes]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if linger is None:
            await stop.wait()
        else:
            await _first(stop.wait(), *(n.finished.wait() for n in nodes))
            if not stop.is_set():
                await _first(stop.wait(), asyncio.sleep(linger))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    sent = sum(len(n.sent) for n in nodes)
    print(f"served {sent} ticks from {len(nodes)} nodes", flush=True)
    return 0


async def _first(stop: Coroutine[Any, Any, Any], *rest: Coroutine[Any, Any, Any]) -> None:
    """Until `stop` finishes, or all of `rest` did."""
    stopper = asyncio.ensure_future(stop)
    others = asyncio.ensure_future(asyncio.gather(*rest))
    try:
        await asyncio.wait({stopper, others}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for fut in (stopper, others):
            fut.cancel()
        await asyncio.gather(stopper, others, return_exceptions=True)
