"""Security: private files, secrets kept out of logs and payloads, and the deploy broker's ACL
(checked by what is delivered, not by what is acknowledged).

Already covered elsewhere (not repeated): outbox files 0600 under the default umask
(tests/outputs/test_outbox.py), registry 0600 (tests/test_config.py), the installer never shows
the passkey at DEBUG (tests/installer/test_installer.py), the bridge user cannot publish counts
and a wrong password is logged without the password (tests/outputs/test_bridge_deploy.py), the
token is hidden in
settings reprs and sink descriptions (tests/outputs/test_bridge.py). See docs/security.md.
"""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway.config import Pairing, save_pairings
from gateway.outputs.bridge.batch import Message
from gateway.outputs.bridge.service import Bridge
from gateway.outputs.bridge.settings import BridgeSettings
from gateway.outputs.bridge.sinks import open_sink
from gateway.outputs.mqtt.payloads import IntervalPayload, Topics
from gateway.outputs.outbox import Outbox
from sensor_sim.ble.link import RadioLink
from tests.support.ble import PASSKEY, nodes_on
from tests.support.deploy import USERS, client
from tests.support.installer import doorcount, write_config
from tests.support.mqtt import Collector, Mosquitto, write_run_config, write_trace_file
from tests.support.tsdb import Victoria, wait_until

MQTT_PASSWORD = "mqtt-Pw-7f3a9c1e"
INFLUX_TOKEN = "influx-Tok-51d2b8e04a"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


# -- files created private even under a permissive umask ---------------------------------------


def test_outbox_and_its_wal_are_private_under_umask_000(tmp_path: Path) -> None:
    with umask(0):
        (tmp_path / "state").mkdir()
        box = Outbox(tmp_path / "state" / "outbox.db")
        with box.batch() as b:
            b.set_state("k", 1)
        box.close()
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{tmp_path / 'state' / 'outbox.db'}{suffix}")
        if path.exists():  # -wal/-shm go away on a clean close
            assert mode(path) == 0o600, suffix


def test_pairing_registry_is_private_under_umask_000(tmp_path: Path) -> None:
    path = tmp_path / "state" / "pairings.json"
    with umask(0):
        save_pairings(
            path,
            [
                Pairing(
                    node="n1",
                    address="F4:12:00:00:00:01",
                    door="front",
                    position="outer",
                    paired_at=1.0,
                )
            ],
        )
    assert mode(path) == 0o600
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".pairings-")]


@pytest.mark.timeout(60)
async def test_bond_store_is_private_after_pairing(tmp_path: Path) -> None:
    radio = RadioLink(interval=0.0)
    config = write_config(tmp_path, ["front"])
    with umask(0o022):
        async with nodes_on(radio, ["n01"], tmp_path) as (n01,):
            n01.peripheral.open_pairing_window()
            line = f"pair n01 --door front --position outer --passkey {PASSKEY} --scan-seconds 1"
            result = await doorcount(radio, config, line)
            assert result.rc == 0, result.text
    state = tmp_path / "state"
    assert mode(state / "pairings.json") == 0o600
    assert (state / "ble-keys.json").exists()
    assert mode(state / "ble-keys.json") == 0o600


# -- secrets never in logs (DEBUG) nor in published payloads -----------------------------------


@pytest.mark.servers
def test_gateway_never_logs_or_publishes_its_mqtt_password(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "mosquitto", users={"gw": MQTT_PASSWORD})
    broker.start()
    try:
        trace = write_trace_file(tmp_path / "t.jsonl", "busy", 120)
        config = write_run_config(tmp_path, broker, trace, username="gw", password=MQTT_PASSWORD)
        collector = Collector(broker, "#")
        try:
            run = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "gateway.cli",
                    "-vv",
                    "run",
                    "-c",
                    str(config),
                    "--drain-timeout",
                    "20",
                ],
                capture_output=True,
                timeout=60,
                check=False,
                cwd=Path(__file__).resolve().parents[2],
            )
            got = collector.wait_for(lambda m: any(x.payload == b"offline" for x in m))
        finally:
            collector.close()
    finally:
        broker.stop()
    log = run.stdout + run.stderr
    assert run.returncode == 0, log.decode(errors="replace")[-2000:]
    assert b"DEBUG" in log  # the log really was at debug level
    assert any(m.topic.endswith("/interval") for m in got)
    secret = MQTT_PASSWORD.encode()
    assert secret not in log
    assert not [m.topic for m in got if secret in m.payload or secret in m.topic.encode()]
    for path in tmp_path.glob("outbox.sqlite3*"):
        assert secret not in path.read_bytes()


@pytest.mark.servers
def test_bridge_never_logs_or_publishes_its_password_or_token(
    tmp_path: Path, victoria: Victoria, caplog: pytest.LogCaptureFixture
) -> None:
    broker = Mosquitto(tmp_path / "mosquitto", users={"bridge": MQTT_PASSWORD})
    broker.start()
    settings = BridgeSettings(
        mqtt_port=broker.port,
        mqtt_username="bridge",
        mqtt_password=MQTT_PASSWORD,  # type: ignore[arg-type]
        influx_url=victoria.url,
        influx_token=INFLUX_TOKEN,  # type: ignore[arg-type]
        linger=0.05,
    )
    letters = Collector(broker, settings.dead_letter_topic, client_id="dl-reader")
    bridge = Bridge(settings, open_sink(settings))
    thread = threading.Thread(target=bridge.run, daemon=True)
    topics = Topics("doorcount", "shop")
    try:
        with caplog.at_level(logging.DEBUG):
            thread.start()
            wait_until(lambda: bridge.stats.subscribed > 0, what="bridge subscribed")
            sender = paho.Client(CallbackAPIVersion.VERSION2, client_id="sender")
            sender.username_pw_set("bridge", MQTT_PASSWORD)
            sender.connect(broker.host, broker.port)
            sender.loop_start()
            good = IntervalPayload(
                site="shop",
                door="front",
                start=1_767_571_200,
                seconds=60,
                entries=2,
                exits=1,
                revision=0,
            )
            for m in (
                Message(topics.interval("front"), good.encode()),
                Message(topics.interval("front"), b"junk"),
            ):
                sender.publish(m.topic, m.payload, qos=1).wait_for_publish(5)
            sender.disconnect()
            sender.loop_stop()
            wait_until(lambda: bridge.stats.stored == 1 and bridge.stats.dead == 1)
            dead = letters.wait_for(lambda m: len(m) == 1)
            bridge.stop()
            thread.join(20)
    finally:
        bridge.stop()
        letters.close()
        broker.stop()
    text = caplog.text + repr(bridge.stats) + bridge.sink.describe()
    assert any(r.levelno == logging.DEBUG for r in caplog.records)
    assert MQTT_PASSWORD not in text
    assert INFLUX_TOKEN not in text
    for letter in dead:
        assert MQTT_PASSWORD.encode() not in letter.payload
        assert INFLUX_TOKEN.encode() not in letter.payload


def test_a_bad_bridge_setting_names_the_key_not_the_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from gateway.cli import main

    monkeypatch.setenv("DOORCOUNT_BRIDGE_INFLUX_TOKEN", INFLUX_TOKEN)
    monkeypatch.setenv("DOORCOUNT_BRIDGE_MQTT_PASSWORD", MQTT_PASSWORD)
    monkeypatch.setenv("DOORCOUNT_BRIDGE_INFLUX_URL", "ftp://nowhere")
    monkeypatch.setenv("DOORCOUNT_BRIDGE_MQTT_PORT", "0")
    assert main(["-vv", "bridge"]) == 1
    captured = capsys.readouterr()
    assert "influx_url" in captured.err or "mqtt_port" in captured.err, captured.err
    assert INFLUX_TOKEN not in captured.out + captured.err
    assert MQTT_PASSWORD not in captured.out + captured.err


# -- the deploy broker (deploy/mosquitto: TLS, passwords, ACL) ---------------------------------


def publish_result(c: paho.Client, topic: str) -> int:
    """MQTT 5 PUBACK reason code: 135 = not authorized; 0/16 = accepted."""
    done = threading.Event()
    codes: list[int] = []

    def on_publish(_c: object, _u: object, _mid: int, reason: object, _p: object) -> None:
        codes.append(int(getattr(reason, "value", 0)))
        done.set()

    c.on_publish = on_publish
    c.publish(topic, b"{}", qos=1)
    assert done.wait(5)
    return codes[0]


class Reader:
    """A subscriber that records what the broker delivers to it."""

    def __init__(self, c: paho.Client, *topics: str) -> None:
        self.got: list[str] = []
        self._lock = threading.Lock()
        acked = threading.Event()
        c.on_message = self._on_message
        c.on_subscribe = lambda *_: acked.set()
        c.subscribe([(t, 1) for t in topics])
        assert acked.wait(5)

    def _on_message(self, _c: object, _u: object, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.got.append(msg.topic)

    def after(self, sentinel: str) -> list[str]:
        """What arrived up to `sentinel` (published last by the same client, so in order)."""
        wait_until(lambda: sentinel in self.got, timeout=10, what=f"{sentinel} delivered")
        with self._lock:
            return list(self.got)


def connected(c: paho.Client) -> paho.Client:
    deadline = time.monotonic() + 5
    while not c.is_connected():
        assert time.monotonic() < deadline, "no CONNACK"
        time.sleep(0.02)
    return c


def session_over_plain_tcp(port: int) -> bool:
    """Whether a cleartext CONNECT with a valid password gets a session (TLS-only: never)."""
    plain = paho.Client(CallbackAPIVersion.VERSION2, client_id="plain", protocol=paho.MQTTv5)
    plain.username_pw_set("corner_shop", USERS["corner_shop"])
    try:
        plain.connect("127.0.0.1", port, keepalive=2)
        for _ in range(50):
            plain.loop(0.05)
            if plain.is_connected():
                break
        return plain.is_connected()
    except OSError:
        return False
    finally:
        plain.disconnect()


@pytest.mark.servers
def test_deploy_broker_refuses_plain_tcp_anonymous_and_wrong_passwords(
    broker: int, tmp_path: Path
) -> None:
    refused: list[str] = []

    def on_connect(_c: object, _u: object, _f: object, reason: object, _p: object) -> None:
        refused.append(str(reason))

    assert not session_over_plain_tcp(broker)
    for user, password in ((None, None), ("corner_shop", "wrong")):
        c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"x-{user}", protocol=paho.MQTTv5)
        if user is not None:
            c.username_pw_set(user, password)
        c.tls_set(ca_certs=str(tmp_path / "ca.pem"))
        c.on_connect = on_connect
        c.connect("127.0.0.1", broker)
        for _ in range(100):
            c.loop(0.05)
            if refused:
                break
        assert not c.is_connected()
        assert refused, user
        refused.clear()
        c.disconnect()


@pytest.mark.servers
def test_deploy_acl_what_the_gateway_and_home_assistant_may_do(broker: int, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    gateway = connected(client(broker, "corner_shop", ca))
    ha = connected(client(broker, "homeassistant", ca))
    bridge = connected(client(broker, "bridge", ca))
    try:
        assert publish_result(gateway, "doorcount/corner_shop/front/interval") in (0, 16)
        assert publish_result(gateway, "homeassistant/sensor/x/config") in (0, 16)
        assert publish_result(gateway, "elsewhere/topic") == 135
        assert publish_result(ha, "doorcount/corner_shop/front/interval") == 135
        assert publish_result(bridge, "homeassistant/status") == 135
        # Mosquitto grants any SUBACK and filters at delivery: check what is delivered.
        ha_reads = Reader(ha, "doorcount/#", "homeassistant/#")
        bridge_reads = Reader(bridge, "doorcount/#", "homeassistant/#")
        publish_result(gateway, "homeassistant/sensor/y/config")
        publish_result(gateway, "doorcount/corner_shop/front/occupancy")
        assert ha_reads.after("doorcount/corner_shop/front/occupancy") == [
            "homeassistant/sensor/y/config",
            "doorcount/corner_shop/front/occupancy",
        ]
        assert bridge_reads.after("doorcount/corner_shop/front/occupancy") == [
            "doorcount/corner_shop/front/occupancy"
        ]
    finally:
        for c in (gateway, ha, bridge):
            c.disconnect()
            c.loop_stop()


@pytest.mark.servers
def test_deploy_acl_gateway_cannot_publish_another_site(broker: int, tmp_path: Path) -> None:
    gateway = connected(client(broker, "corner_shop", tmp_path / "ca.pem"))
    try:
        other_site = publish_result(gateway, "doorcount/other_site/front/interval")
        dead_letter = publish_result(gateway, "doorcount/_bridge/deadletter")
    finally:
        gateway.disconnect()
        gateway.loop_stop()
    assert other_site == 135
    assert dead_letter == 135


@pytest.mark.servers
def test_deploy_acl_gateway_cannot_read_counts(broker: int, tmp_path: Path) -> None:
    reader = connected(client(broker, "corner_shop", tmp_path / "ca.pem"))
    writer = paho.Client(CallbackAPIVersion.VERSION2, client_id="t-gw2", protocol=paho.MQTTv5)
    writer.username_pw_set("corner_shop", USERS["corner_shop"])
    writer.tls_set(ca_certs=str(tmp_path / "ca.pem"))
    writer.connect("127.0.0.1", broker)
    writer.loop_start()
    try:
        reads = Reader(connected(reader), "doorcount/#", "homeassistant/status")
        publish_result(connected(writer), "doorcount/other_site/front/interval")
        publish_result(writer, "homeassistant/status")
        got = reads.after("homeassistant/status")
    finally:
        for c in (reader, writer):
            c.disconnect()
            c.loop_stop()
    assert got == ["homeassistant/status"]
