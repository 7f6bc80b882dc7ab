"""deploy/: the Mosquitto config of the compose stack runs on real Mosquitto (TLS, passwords,
ACL) and the bridge works through it; compose and unit files are well-formed."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest
import yaml

from gateway.outputs.bridge.service import Bridge
from gateway.outputs.bridge.settings import BridgeSettings
from gateway.outputs.bridge.store import LocalStore
from gateway.outputs.mqtt.payloads import IntervalPayload, Topics
from tests.support.deploy import DEPLOY, client
from tests.support.tsdb import wait_until


def test_bridge_through_the_deploy_broker(broker: int, tmp_path: Path) -> None:
    settings = BridgeSettings(
        mqtt_port=broker,
        mqtt_tls=True,
        mqtt_ca_file=tmp_path / "ca.pem",
        mqtt_username="bridge",
        mqtt_password="br-pass",  # type: ignore[arg-type]
        share_group="doorcount-bridges",
        store_path=tmp_path / "s.sqlite",
        linger=0.05,
    )
    bridge = Bridge(settings, LocalStore(settings.store_path))
    thread = threading.Thread(target=bridge.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: bridge.stats.subscribed > 0, what="bridge subscribed over TLS")
        gateway = client(broker, "corner_shop", tmp_path / "ca.pem")
        topics = Topics("doorcount", "Corner Shop")
        for i in range(5):
            payload = IntervalPayload(
                site="Corner Shop",
                door="Front",
                start=60 * i,
                seconds=60,
                entries=i,
                exits=0,
                revision=0,
            )
            gateway.publish(topics.interval("Front"), payload.encode(), qos=1).wait_for_publish(5)
        gateway.publish(topics.interval("Front"), b"junk", qos=1).wait_for_publish(5)
        wait_until(lambda: bridge.stats.stored == 5 and bridge.stats.dead == 1)
        gateway.disconnect()
        gateway.loop_stop()
    finally:
        bridge.stop()
        thread.join(20)
    store = LocalStore(tmp_path / "s.sqlite")
    assert [p.fields["entries"] for p in store.query("door_interval")] == [0, 1, 2, 3, 4]
    store.close()


def test_acl_keeps_the_bridge_from_publishing_counts(broker: int, tmp_path: Path) -> None:
    results: list[int] = []
    done = threading.Event()
    bridge_user = client(broker, "bridge", tmp_path / "ca.pem")

    def on_publish(_c: object, _u: object, _mid: int, reason: object, _p: object) -> None:
        results.append(int(getattr(reason, "value", 0)))
        if len(results) == 2:
            done.set()

    bridge_user.on_publish = on_publish
    time.sleep(0.2)
    bridge_user.publish("doorcount/corner_shop/front/interval", b"{}", qos=1)
    bridge_user.publish("doorcount/_bridge/deadletter", b"{}", qos=1)
    assert done.wait(5)
    bridge_user.disconnect()
    bridge_user.loop_stop()
    assert results[0] == 135  # Not authorized (MQTT 5 reports ACL denials)
    assert results[1] in (0, 16)  # accepted (16: no subscribers)


def test_compose_and_units_are_well_formed() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert {"mosquitto", "influxdb", "grafana", "bridge", "gateway"} <= set(compose["services"])
    bridge_env = compose["services"]["bridge"]["environment"]
    assert all(key.startswith("DOORCOUNT_BRIDGE_") for key in bridge_env)
    assert (
        set(bridge_env) - {"DOORCOUNT_BRIDGE_" + k.upper() for k in BridgeSettings.model_fields}
        == set()
    )
    grafana = compose["services"]["grafana"]
    mounted = {v.split(":")[0] for v in grafana["volumes"]}
    for source in mounted - {"grafana-data"}:
        assert (DEPLOY / source).exists(), source
    assert compose["services"]["mosquitto"]["ports"] == ["8883:8883"]
    for unit in (DEPLOY / "systemd").glob("*.service"):
        text = unit.read_text()
        assert re.search(r"^ExecStart=/opt/doorcount/venv/bin/doorcount .*(run|bridge)", text, re.M)
        assert "Restart=always" in text
    rules = json.loads((DEPLOY / "grafana/provisioning/alerting/doorcount.json").read_text())
    assert rules["apiVersion"] == 1


def test_wrong_password_is_logged_and_retried(
    broker: int, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = BridgeSettings(
        mqtt_port=broker,
        mqtt_tls=True,
        mqtt_ca_file=tmp_path / "ca.pem",
        mqtt_username="bridge",
        mqtt_password="wrong",  # type: ignore[arg-type]
        store_path=tmp_path / "s.sqlite",
        retry_initial=0.05,
        retry_max=0.1,
    )
    bridge = Bridge(settings, LocalStore(settings.store_path))
    thread = threading.Thread(target=bridge.run, daemon=True)
    with caplog.at_level("ERROR", logger="gateway.outputs.bridge.service"):
        thread.start()
        wait_until(lambda: caplog.text.count("broker refused the connection") >= 2)
        bridge.stop()
        thread.join(20)
    assert not thread.is_alive()
    assert "Not authorized" in caplog.text or "Bad user name or password" in caplog.text
    assert "wrong" not in caplog.text.replace("Bad user name or password", "")
