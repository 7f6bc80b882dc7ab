"""The gateway's BLE ingest against real bumble peripherals: resume, health and bad input.

Unknown, unbonded or impostor nodes are reported and never counted; malformed frames, replayed
or rolled-back sequence numbers and reboots are counted and never crash the ingest or double a
tick in the engine.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from bleak import BleakClient
from bleak.exc import BleakError
from bumble.device import Connection

from gateway.core.engine import Engine
from gateway.errors import BleError
from gateway.protocol import wire
from gateway.protocol.trace import BeamRef, DoorSpec, Tick
from gateway.sources.ble import central as central_mod
from gateway.sources.ble.backend import Backend
from gateway.sources.ble.ingest import Ingest, IngestConfig, PairedNode, Report
from sensor_sim.ble.link import RadioLink
from sensor_sim.ble.node import SimNode
from tests.support.ble import gateway_on, nodes_on, pair_all

FAST = IngestConfig(
    connect_timeout=5.0,
    hello_timeout=2.0,
    silence_s=1.5,
    backoff_min=0.05,
    backoff_max=0.5,
    scan_timeout=2.0,
)


@pytest.fixture
def radio() -> RadioLink:
    return RadioLink(interval=0.0075)


class Gateway:
    """An `Ingest` with what it delivered and reported, for assertions."""

    def __init__(self, backend: Backend, nodes: list[PairedNode], config: IngestConfig) -> None:
        self.ticks: list[Tick] = []
        self.reports: list[Report] = []
        self.ingest = Ingest(
            backend, nodes, self.ticks.extend, config=config, on_report=self.reports.append
        )

    def kinds(self) -> Counter[str]:
        return Counter(r.kind for r in self.reports)

    def keys(self) -> list[tuple[str, int, int]]:
        return [(t.node, t.boot, t.seq) for t in self.ticks]

    async def until(self, check: object, timeout: float = 20.0) -> None:
        assert callable(check)
        async with asyncio.timeout(timeout):
            while not check():
                await asyncio.sleep(0.02)


@asynccontextmanager
async def running(
    backend: Backend, nodes: list[PairedNode], config: IngestConfig = FAST
) -> AsyncIterator[Gateway]:
    gateway = Gateway(backend, nodes, config)
    await gateway.ingest.start()
    try:
        yield gateway
    finally:
        await gateway.ingest.stop()


def _made(nodes: list[SimNode]) -> set[tuple[str, int, int]]:
    return {(n.node_id, t.boot, t.seq) for n in nodes for t in n.created}


async def test_ticks_survive_link_loss_and_reboot(radio: RadioLink, tmp_path: Path) -> None:
    names = ["n01", "n02", "n03"]
    async with (
        nodes_on(radio, names, tmp_path, status_interval=0.3) as nodes,
        gateway_on(radio, tmp_path) as backend,
    ):
        paired = await pair_all(backend, nodes)
        async with running(backend, paired) as gw:
            await gw.ingest.wait_connected()
            for k in range(60):
                for node in nodes:
                    node.emit(k % 2, k % 4 < 2)
                if k == 20:
                    await nodes[0].drop_link()  # ticks keep coming while it is away
                if k == 40:
                    # Notifications are unacknowledged: ticks still in flight when a node
                    # powers off are gone with it. Reboot once what it sent has arrived.
                    await gw.until(lambda: _made([nodes[1]]) <= set(gw.keys()))
                    await nodes[1].reboot(flush=2.0)
                await asyncio.sleep(0.005)
            await gw.until(lambda: set(gw.keys()) == _made(nodes))
            health = {h.node: h for h in gw.ingest.health()}
    assert len(gw.keys()) == len(set(gw.keys()))
    assert health["n01"].reconnects == 1
    assert health["n02"].reboots == 1
    assert {h.node: h.ticks for h in health.values()} == {"n01": 60, "n02": 60, "n03": 60}
    assert all(h.battery_pct == 100 and h.rssi is not None for h in health.values())
    assert gw.kinds()["reboot"] == 1


async def test_malformed_frames_are_counted_and_skipped(radio: RadioLink, tmp_path: Path) -> None:
    async with (
        nodes_on(radio, ["n01"], tmp_path, status_interval=0.3) as nodes,
        gateway_on(radio, tmp_path) as backend,
    ):
        paired = await pair_all(backend, nodes)
        async with running(backend, paired) as gw:
            await gw.ingest.wait_connected()
            node = nodes[0]
            node.emit(0, True)
            for junk in (b"", b"\x02", b"\x02\x07" + bytes(20), b"\x7f\x01", b"\x02\x01\x00"):
                await node.peripheral.notify_stream(junk)
            node.emit(0, False)
            await gw.until(lambda: len(gw.ticks) == 2)
            health = gw.ingest.health()[0]
    assert health.malformed == 5
    assert gw.kinds()["malformed"] == 5
    assert health.connected  # a bad frame is no reason to drop a good link


async def test_replayed_and_rolled_back_ticks_never_count_twice(
    radio: RadioLink, tmp_path: Path
) -> None:
    door = DoorSpec("d1", BeamRef("n01", 0), BeamRef("n01", 1))
    engine = Engine([door])
    async with (
        nodes_on(radio, ["n01"], tmp_path, status_interval=0.3) as nodes,
        gateway_on(radio, tmp_path) as backend,
    ):
        paired = await pair_all(backend, nodes)
        async with running(backend, paired) as gw:
            await gw.ingest.wait_connected()
            node = nodes[0]
            for beam, broken in ((0, True), (1, True), (0, False), (1, False)):
                node.emit(beam, broken)
            await gw.until(lambda: len(gw.ticks) == 4)
            # A confused node sends its first batch again, then an older one (rollback).
            first = wire.TickBatch(
                node.boot_id,
                node.created[0].node_us >> 32,
                0,
                tuple(
                    wire.WireTick(t.beam, t.broken, t.node_us & wire.U32) for t in node.created[:3]
                ),
            )
            await node.peripheral.notify_stream(bytes(first))
            await node.peripheral.notify_stream(bytes(first))
            await gw.until(lambda: len(gw.ticks) == 10)
            health = gw.ingest.health()[0]
    events = [e for t in gw.ticks for e in engine.feed(t)] + engine.finish()
    assert health.duplicates == 6
    assert engine.stats.duplicates == 6
    assert engine.stats.accepted == 4
    assert len(set(gw.keys())) == 4
    assert sum(1 for e in events if type(e).__name__ == "Crossing") <= 1


async def test_an_unbonded_node_is_reported_and_never_counted(
    radio: RadioLink, tmp_path: Path
) -> None:
    async with (
        nodes_on(radio, ["n01", "n02"], tmp_path, status_interval=0.3) as nodes,
        gateway_on(radio, tmp_path) as backend,
    ):
        paired = await pair_all(backend, nodes[:1])
        stranger = PairedNode("n02", nodes[1].address)  # configured, but never paired
        async with running(backend, [*paired, stranger]) as gw:
            await gw.ingest.wait_connected(1)
            nodes[0].emit(0, True)
            nodes[1].emit(0, True)
            await gw.until(lambda: gw.kinds()["not_bonded"] >= 1 and len(gw.ticks) == 1)
            health = {h.node: h for h in gw.ingest.health()}
    assert gw.keys() == [("n01", nodes[0].boot_id, 0)]
    assert not health["n02"].connected
    assert health["n02"].last_error is not None
    assert "bond" in health["n02"].last_error


async def test_a_node_answering_with_another_id_is_ignored(
    radio: RadioLink, tmp_path: Path
) -> None:
    async with (
        nodes_on(radio, ["n01"], tmp_path, status_interval=0.3) as nodes,
        gateway_on(radio, tmp_path) as backend,
    ):
        (paired,) = await pair_all(backend, nodes)
        impostor = PairedNode("door7-out", paired.address)  # config says another node
        async with running(backend, [impostor]) as gw:
            nodes[0].emit(0, True)
            await gw.until(lambda: gw.kinds()["wrong_node"] >= 1)
    assert gw.ticks == []
    assert "'n01'" in gw.reports[0].detail


async def test_a_silent_link_is_dropped_and_reconnected(radio: RadioLink, tmp_path: Path) -> None:
    async with (
        nodes_on(radio, ["n01"], tmp_path, status_interval=0.3) as nodes,
        gateway_on(radio, tmp_path) as backend,
    ):
        paired = await pair_all(backend, nodes)
        async with running(backend, paired) as gw:
            await gw.ingest.wait_connected()
            nodes[0].status_interval = 60.0  # the node's status timer stalls
            await gw.until(lambda: gw.kinds()["silent"] >= 1)
            nodes[0].status_interval = 0.3
            await gw.until(lambda: gw.ingest.health()[0].reconnects >= 1)
            nodes[0].emit(1, True)
            await gw.until(lambda: len(gw.ticks) == 1)
    assert gw.ingest.health()[0].silent_drops >= 1


async def test_connections_are_serialised_but_all_nodes_come_up(
    radio: RadioLink, tmp_path: Path
) -> None:
    names = [f"n{i:02d}" for i in range(1, 7)]
    async with (
        nodes_on(radio, names, tmp_path, status_interval=0.3) as nodes,
        gateway_on(radio, tmp_path) as backend,
    ):
        paired = await pair_all(backend, nodes)
        async with running(backend, paired) as gw:
            await gw.ingest.wait_connected()
            await gw.ingest.send("n03", wire.Identify(4))
            await gw.until(lambda: nodes[2].identify_until > 0)
    assert gw.kinds()["connected"] == 6
    assert gw.kinds()["connect_failed"] == 0


async def test_a_node_that_missed_its_disconnection_advertises_again(
    radio: RadioLink, tmp_path: Path
) -> None:
    # A link lost while the next one is being made can leave the node's host holding a link
    # its stack no longer has. The firmware's 1 s supervisor must bring it back on the air.
    async with (
        nodes_on(radio, ["n01"], tmp_path, status_interval=0.3) as nodes,
        gateway_on(radio, tmp_path) as backend,
    ):
        paired = await pair_all(backend, nodes)
        async with running(backend, paired) as gw:
            await gw.ingest.wait_connected()
            link = nodes[0].peripheral._connection
            assert link is not None
            link.remove_all_listeners(link.EVENT_DISCONNECTION)  # the event never reaches it
            await nodes[0].drop_link()
            nodes[0].emit(1, True)
            await gw.until(lambda: gw.ingest.health()[0].reconnects >= 1)
            await gw.until(lambda: len(gw.ticks) == 1)
    assert gw.kinds()["disconnected"] >= 1


@pytest.mark.parametrize("given_up_by", ["the caller", "bumble's own timeout"])
async def test_a_connect_given_up_on_leaves_the_controller_free(
    radio: RadioLink, tmp_path: Path, given_up_by: str
) -> None:
    # One pending LE connection per controller: a connect to a node that never advertises
    # again must be cancelled at the controller, or every later connect is refused.
    async with (
        nodes_on(radio, ["n01"], tmp_path) as nodes,
        gateway_on(radio, tmp_path),
    ):
        central = central_mod.current()
        gone = "C3:11:22:33:44:55"  # nobody advertises there
        if given_up_by == "the caller":
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3):
                    await central.connect(gone, 10.0)
        else:
            with pytest.raises(BleError, match="no connection within"):
                await central.connect(gone, 0.3)
        connection = await central.connect(nodes[0].address, 5.0)
        assert connection.is_encrypted is False  # a plain, working link
        await connection.disconnect()


async def test_closing_a_link_the_peer_already_dropped_returns(
    radio: RadioLink, tmp_path: Path
) -> None:
    # bumble's disconnect waits for the link's disconnection event; for a link whose event
    # already went by it waited forever, holding every other node's connect behind it.
    async with (
        nodes_on(radio, ["n01"], tmp_path) as nodes,
        gateway_on(radio, tmp_path),
    ):
        central = central_mod.current()
        connection = await central.connect(nodes[0].address, 5.0)
        await nodes[0].drop_link()
        async with asyncio.timeout(20):  # a hang fails here instead of at pytest's timeout
            while central.is_alive(connection):
                await asyncio.sleep(0.01)
            await central.disconnect(connection)
            again = await central.connect(nodes[0].address, 5.0)
            await central.disconnect(again)
        assert not central.device.connections


async def test_a_link_lost_before_the_client_listens_fails_its_connect(
    radio: RadioLink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The peer's last answer and its disconnection can arrive in one connection event, so the
    # link is gone by the time the client would start listening for its end. The client must
    # see that at once, not wait on the dead link (and then on its disconnection) forever.
    async with (
        nodes_on(radio, ["n01"], tmp_path, status_interval=0.3) as nodes,
        gateway_on(radio, tmp_path) as backend,
    ):
        paired = await pair_all(backend, nodes)
        central = central_mod.current()
        real_connect = central.connect

        async def connect_then_lose(address: str, timeout: float) -> Connection:
            connection = await real_connect(address, timeout)
            await nodes[0].drop_link()
            while central.is_alive(connection):
                await asyncio.sleep(0.01)
            return connection

        monkeypatch.setattr(central, "connect", connect_then_lose)
        client = BleakClient(nodes[0].address, timeout=5.0, **backend.client_kwargs())
        async with asyncio.timeout(20):
            with pytest.raises(BleakError, match="disconnected as soon as connected"):
                await client.connect()
            await client.disconnect()
        monkeypatch.undo()
        async with running(backend, paired) as gw:
            nodes[0].emit(0, True)
            await gw.until(lambda: len(gw.ticks) == 1)
    assert gw.kinds()["connect_failed"] == 0
