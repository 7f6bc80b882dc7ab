"""The broker link against a real Mosquitto (and the embedded amqtt broker): QoS 1 drain,
MQTT 3.1.1 and 5, credentials, TLS, outages with backoff, the last will."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.outputs.mqtt.client import MqttLink
from gateway.outputs.mqtt.settings import MqttSettings
from gateway.outputs.outbox import Message, Outbox
from tests.support.mqtt import Collector, Mosquitto, Received, free_port, make_tls


def _fill(box: Outbox, n: int, start: int = 0) -> None:
    with box.batch() as b:
        for i in range(start, start + n):
            b.enqueue(Message("doorcount/s/d/crossing", json.dumps({"i": i}).encode()))


def _settings(broker: Mosquitto, tmp_path: Path, **kw: object) -> MqttSettings:
    values: dict[str, object] = {
        "host": broker.host,
        "port": broker.port,
        "outbox_path": tmp_path / "o.db",
        "reconnect_min": 0.05,
        "reconnect_max": 0.3,
        **kw,
    }
    return MqttSettings.model_validate(values)


@contextlib.asynccontextmanager
async def _running(link: MqttLink) -> AsyncIterator[MqttLink]:
    task = asyncio.create_task(link.run())
    try:
        yield link
    finally:
        await link.stop()
        await asyncio.wait_for(task, 10)


def _payload_ids(collector: Collector) -> list[int]:
    return _ids(collector.snapshot())


@pytest.mark.servers
@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_outbox_drains_in_order_and_empties(
    mosquitto: Mosquitto, tmp_path: Path, protocol: str
) -> None:
    collector = Collector(mosquitto, "doorcount/#")
    box = Outbox(tmp_path / "o.db")
    _fill(box, 500)
    async with _running(
        MqttLink(_settings(mosquitto, tmp_path, protocol=protocol), "s", box)
    ) as link:
        assert await link.drained(30)
        assert link.connected
    collector.wait_for(lambda m: len([x for x in m if x.topic.endswith("crossing")]) >= 500)
    assert _payload_ids(collector) == list(range(500))
    assert box.depth == 0
    assert box.pending() == []
    statuses = [m.payload for m in collector.snapshot() if m.topic.endswith("gateway/status")]
    assert statuses == [b"online", b"offline"]  # a clean stop says offline itself
    collector.close()


@pytest.mark.servers
async def test_broker_outage_queues_then_delivers_everything(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    collector = Collector(mosquitto, "doorcount/#")
    box = Outbox(tmp_path / "o.db")
    link = MqttLink(_settings(mosquitto, tmp_path), "s", box)
    async with _running(link):
        _fill(box, 100)
        link.notify()
        assert await link.drained(30)
        mosquitto.stop()  # SIGTERM: the broker saves its sessions
        for k in range(5):  # counting goes on while the broker is away
            _fill(box, 100, start=100 + 100 * k)
            link.notify()
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        assert box.depth == 500
        assert not link.connected
        assert "unreachable" in (link.figures.last_error or "")
        mosquitto.start()
        assert await link.drained(30)
    collector.wait_for(lambda m: len(set(_ids(m))) >= 600)
    assert set(_payload_ids(collector)) == set(range(600))
    assert link.figures.connects >= 2
    collector.close()


def _ids(messages: list[Received]) -> list[int]:
    return [json.loads(m.payload)["i"] for m in messages if m.topic.endswith("crossing")]


@pytest.mark.servers
async def test_bad_credentials_are_reported_and_retried(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "m", users={"gw": "right-password"})
    broker.start()
    try:
        box = Outbox(tmp_path / "o.db")
        _fill(box, 10)
        bad = _settings(broker, tmp_path, username="gw", password="wrong-password")
        link = MqttLink(bad, "s", box)
        async with _running(link):
            for _ in range(200):
                if link.figures.failures >= 2:
                    break
                await asyncio.sleep(0.02)
        assert link.figures.failures >= 2  # it keeps retrying
        assert "refused the connection for user 'gw'" in (link.figures.last_error or "")
        assert "wrong-password" not in (link.figures.last_error or "")
        assert box.depth == 10  # nothing lost
        good = _settings(broker, tmp_path, username="gw", password="right-password")
        async with _running(MqttLink(good, "s", box)) as link:
            assert await link.drained(30)
    finally:
        broker.stop()


@pytest.mark.servers
async def test_tls_with_the_right_ca_and_a_clear_error_with_the_wrong_one(tmp_path: Path) -> None:
    tls = make_tls(tmp_path)
    broker = Mosquitto(tmp_path / "m", tls=tls)
    broker.start()
    try:
        box = Outbox(tmp_path / "o.db")
        _fill(box, 10)
        (tmp_path / "other").mkdir()
        other = make_tls(tmp_path / "other")  # a CA that did not sign the broker's certificate
        wrong = _settings(broker, tmp_path, tls=True, ca_file=other.ca)
        link = MqttLink(wrong, "s", box)
        async with _running(link):
            for _ in range(200):
                if link.figures.failures:
                    break
                await asyncio.sleep(0.02)
        assert "TLS handshake with 127.0.0.1" in (link.figures.last_error or "")
        assert "certificate verify failed" in (link.figures.last_error or "")
        right = _settings(broker, tmp_path, tls=True, ca_file=tls.ca)
        async with _running(MqttLink(right, "s", box)) as link:
            assert await link.drained(30)
        assert box.depth == 0
    finally:
        broker.stop()


async def test_unreachable_broker_message_names_host_and_port(tmp_path: Path) -> None:
    port = free_port()
    settings = MqttSettings(
        host="127.0.0.1",
        port=port,
        outbox_path=tmp_path / "o.db",
        reconnect_min=0.05,
        reconnect_max=0.1,
    )
    box = Outbox(tmp_path / "o.db")
    link = MqttLink(settings, "s", box)
    async with _running(link):
        for _ in range(200):
            if link.figures.failures >= 3:
                break
            await asyncio.sleep(0.02)
    assert link.figures.failures >= 3
    assert f"broker 127.0.0.1:{port} unreachable" in (link.figures.last_error or "")


@pytest.mark.servers
async def test_last_will_says_offline_when_the_gateway_dies(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """A gateway process killed with SIGKILL: the broker publishes the retained will."""
    import signal
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        f"""
        import asyncio
        from gateway.outputs.mqtt.client import MqttLink
        from gateway.outputs.mqtt.settings import MqttSettings
        from gateway.outputs.outbox import Outbox
        async def main():
            s = MqttSettings(host="127.0.0.1", port={mosquitto.port}, keepalive=5,
                             outbox_path={str(tmp_path / "w.db")!r})
            link = MqttLink(s, "s", Outbox(s.outbox_path))
            task = asyncio.create_task(link.run())
            while not link.connected:
                await asyncio.sleep(0.01)
            print("up", flush=True)
            await task
        asyncio.run(main())
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"up"
    collector = Collector(mosquitto, "doorcount/s/gateway/status", client_id="will-watcher")
    collector.wait_for(lambda m: [x.payload for x in m] == [b"online"])
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    got = collector.wait_for(lambda m: m and m[-1].payload == b"offline")
    assert got[-1].payload == b"offline"
    collector.close()
    late = Collector(mosquitto, "doorcount/s/gateway/status", client_id="late-reader")
    retained = late.wait_for(lambda m: len(m) >= 1)
    assert (retained[0].payload, retained[0].retain) == (b"offline", True)
    late.close()


async def test_embedded_amqtt_broker_receives_the_queue(tmp_path: Path) -> None:
    """amqtt (in-process, MQTT 3.1.1) as the demo broker: drain, retained status, will."""
    from amqtt.broker import Broker

    port = free_port()
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
    )
    await broker.start()
    try:
        received: list[tuple[str, bytes]] = []
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        sub = paho.Client(CallbackAPIVersion.VERSION2, client_id="amqtt-sub")
        sub.on_message = lambda _c, _u, m: received.append((m.topic, bytes(m.payload)))
        settings = MqttSettings(
            host="127.0.0.1", port=port, protocol="3.1.1", outbox_path=tmp_path / "o.db"
        )
        box = Outbox(tmp_path / "o.db")
        _fill(box, 50)
        async with _running(MqttLink(settings, "s", box)) as link:
            assert await link.drained(30)
        assert box.depth == 0
        await asyncio.to_thread(sub.connect, "127.0.0.1", port)
        sub.subscribe("doorcount/s/gateway/status", qos=1)
        sub.loop_start()
        for _ in range(200):
            if received:
                break
            await asyncio.sleep(0.02)
        sub.loop_stop()
        sub.disconnect()
        assert received == [("doorcount/s/gateway/status", b"offline")]
    finally:
        await broker.shutdown()
