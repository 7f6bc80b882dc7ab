"""HCI over TCP for a gateway in another process: a controller on the virtual radio per host.

`sensor-sim serve --gateway-hci tcp-server:HOST:PORT` lets `doorcount run` (bumble backend,
`tcp-client:HOST:PORT`) reach the simulated nodes as if through a USB dongle. A real dongle's
links end when its host goes away (the process dies, the next one sends HCI Reset): the nodes
see a supervision timeout and advertise again. bumble's own TCP server transport keeps ONE
controller for every client, and its controller ignores HCI Reset, so a gateway restarted
after a crash would meet a controller still holding the old links and refusing to connect
(`COMMAND_DISALLOWED`). Here every host connection gets a freshly plugged-in controller, and
when the host disconnects the nodes' links time out and that controller leaves the radio.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bumble.controller import Controller
from bumble.transport.common import StreamPacketSource

from sensor_sim.ble.link import RadioLink, VirtualController

logger = logging.getLogger(__name__)

HostLost = Callable[[], Awaitable[None]]


class NormalDisconnects(logging.Filter):
    """Drops bumble's "Cannot find a connection" errors: when a gateway host goes away both
    ends tear the same link down, and the second termination finds it already gone. That is
    the normal end of a link here, not an error worth a line on every disconnect."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.levelno == logging.ERROR
            and str(record.msg).startswith("Cannot find a connection")
        )


CONTROLLER_LOG = logging.getLogger("bumble.controller")


class _HostSink:
    """The controller's way to its host: the TCP connection while it lasts."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport: asyncio.Transport | None = transport

    def on_packet(self, packet: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(packet)


class _HostConnection(asyncio.Protocol):
    def __init__(self, port: GatewayHciPort) -> None:
        self._port = port
        self._source = StreamPacketSource()
        self._sink: _HostSink | None = None
        self._controller: Controller | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._sink = _HostSink(transport)
        self._controller = VirtualController(
            "gateway", host_source=self._source, host_sink=self._sink, link=self._port.radio
        )
        self._port.hosts += 1
        self._port.connections.add(transport)
        logger.info("gateway host %d connected", self._port.hosts)

    def data_received(self, data: bytes) -> None:
        self._source.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._sink is not None:
            if self._sink.transport is not None:
                self._port.connections.discard(self._sink.transport)
            self._sink.transport = None
        controller, self._controller = self._controller, None
        logger.info("gateway host gone: its links time out")
        self._port.host_lost(controller)


class GatewayHciPort:
    """Serves a fresh gateway controller on `radio` to each TCP client (see module docstring).

    `on_host_lost` makes the nodes drop their links (supervision timeout) when a host goes.
    A site has one gateway at a time, so that is every connected node's link; a second host
    connected at once (an installer's `doorcount pair` next to a running gateway) would see
    its links drop too when the other one leaves.
    """

    def __init__(self, radio: RadioLink, on_host_lost: HostLost) -> None:
        self.radio = radio
        self.hosts = 0
        self._on_host_lost = on_host_lost
        self.connections: set[asyncio.Transport] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, spec: str) -> None:
        """`spec` is `tcp-server:HOST:PORT` (HOST `_` for every interface), as in bumble."""
        if not any(isinstance(f, NormalDisconnects) for f in CONTROLLER_LOG.filters):
            CONTROLLER_LOG.addFilter(NormalDisconnects())
        kind, _, where = spec.partition(":")
        host, _, port = where.rpartition(":")
        if kind != "tcp-server" or not port.isdigit():
            raise ValueError(f"gateway HCI must be tcp-server:HOST:PORT, got {spec!r}")
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _HostConnection(self), None if host in ("", "_") else host, int(port)
        )

    def host_lost(self, controller: Controller | None) -> None:
        async def cleanup() -> None:
            await self._on_host_lost()  # the old controller hears the terminations, nobody else
            if controller is not None and controller in self.radio.controllers:
                self.radio.remove_controller(controller)

        task = asyncio.get_running_loop().create_task(cleanup())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for transport in list(self.connections):
                transport.close()
            await self._server.wait_closed()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
