"""A real Home Assistant (2024.3.3) against Mosquitto: every entity the gateway announces,
zones included, is created, named with the site, without a warning from the MQTT integration.

Opt-in (slow; `./dev soak` runs it and makes the venv): Home Assistant needs its own venv
(Python 3.11 caps it at 2024.3.3). It runs with --skip-pip, so the requirements of the MQTT
integration and of the integrations Home Assistant always loads are installed beforehand, from
`tests/system/home-assistant.txt`:

    python3 -m venv .venv-ha && .venv-ha/bin/pip install -r tests/system/home-assistant.txt
    DOORCOUNT_HASS=.venv-ha/bin/hass .venv/bin/python -m pytest -m slow \\
        tests/system/test_home_assistant.py
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from gateway.core.site import OUTSIDE, DoorPlan, SiteLayout
from gateway.outputs.mqtt.discovery import discovery_configs
from gateway.outputs.mqtt.payloads import Topics
from gateway.outputs.mqtt.settings import MqttSettings
from gateway.pipeline.service import Service
from gateway.protocol.trace import BeamRef, DoorSpec
from gateway.sources.base import QueueSource
from tests.support.mqtt import Collector, Mosquitto

DOORS = [
    DoorSpec("Front", BeamRef("n1", 0), BeamRef("n1", 1)),
    DoorSpec("Stairs", BeamRef("n2", 0), BeamRef("n3", 0)),
]
LAYOUT = SiteLayout(
    zones=("Floor", "Upstairs"),
    doors=(
        DoorPlan("Front", "entrance", OUTSIDE, "Floor"),
        DoorPlan("Stairs", "internal", "Floor", "Upstairs"),
    ),
    explicit=True,
)
WAIT_S = 240.0


def _hass() -> Path:
    hass = os.environ.get("DOORCOUNT_HASS", "")
    assert hass, "set DOORCOUNT_HASS to the hass of a Home Assistant 2024.3.3 venv (see above)"
    assert Path(hass).is_file(), f"DOORCOUNT_HASS={hass}: no such file"
    return Path(hass)


def _config_dir(root: Path, broker: Mosquitto) -> Path:
    """A minimal Home Assistant: no HTTP, the MQTT integration set up as a config entry."""
    (root / ".storage").mkdir(parents=True)
    (root / "configuration.yaml").write_text(
        "homeassistant:\n  name: doorcount test\n  time_zone: UTC\n"
        "  latitude: 0\n  longitude: 0\n  elevation: 0\n  unit_system: metric\n"
        "logger:\n  default: warning\n"
    )
    entry = {
        "entry_id": uuid.uuid4().hex,
        "version": 1,
        "minor_version": 1,
        "domain": "mqtt",
        "title": broker.host,
        "data": {"broker": broker.host, "port": broker.port, "discovery": True},
        "options": {},
        "pref_disable_new_entities": False,
        "pref_disable_polling": False,
        "source": "user",
        "unique_id": None,
        "disabled_by": None,
    }
    (root / ".storage" / "core.config_entries").write_text(
        json.dumps(
            {
                "version": 1,
                "minor_version": 1,
                "key": "core.config_entries",
                "data": {"entries": [entry]},
            }
        )
    )
    return root


def _registry(root: Path, name: str) -> list[dict[str, Any]]:
    path = root / ".storage" / f"core.{name}_registry"
    if not path.is_file():
        return []
    data = json.loads(path.read_text())["data"]
    return list(data["entities" if name == "entity" else "devices"])


@pytest.mark.slow
@pytest.mark.servers
async def test_real_home_assistant_creates_every_entity_named_with_the_site(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    hass = _hass()
    mqtt = MqttSettings.model_validate(
        {"host": mosquitto.host, "port": mosquitto.port, "outbox_path": tmp_path / "o.db"}
    )
    expected = discovery_configs(Topics("doorcount", "Corner Shop"), DOORS, zones=LAYOUT.zones)
    collector = Collector(mosquitto, "homeassistant/#")
    source = QueueSource()
    service = Service(site="Corner Shop", doors=DOORS, source=source, mqtt=mqtt, layout=LAYOUT)
    task = asyncio.create_task(service.run(drain_timeout=10))
    await asyncio.to_thread(
        collector.wait_for, lambda m: len({x.topic for x in m}) >= len(expected)
    )
    collector.close()

    root = _config_dir(tmp_path / "ha", mosquitto)
    log = open(tmp_path / "hass.out", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [str(hass), "--config", str(root), "--skip-pip", "--log-file", str(root / "ha.log")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    want = {cfg["unique_id"] for cfg in expected.values()}
    try:
        deadline = time.monotonic() + WAIT_S
        got: set[str] = set()
        while time.monotonic() < deadline and proc.poll() is None:
            entities = [e for e in _registry(root, "entity") if e["platform"] == "mqtt"]
            got = {e["unique_id"] for e in entities}
            if got >= want:
                break
            await asyncio.sleep(2)
        assert proc.poll() is None, (tmp_path / "hass.out").read_text()[-3000:]
        assert got == want, f"missing {sorted(want - got)}; extra {sorted(got - want)}"
        registered = {e["unique_id"]: e for e in _registry(root, "entity")}
        named = {d["name"] for d in _registry(root, "device")}

        # The state directory is lost (the demo replaces it) and the Stairs door is gone: the
        # next run finds the stale configs on the broker and Home Assistant drops the entities.
        source.close()
        await asyncio.wait_for(task, 30)
        source = QueueSource()
        (tmp_path / "new").mkdir()  # the outbox never creates its folder
        mqtt = mqtt.model_copy(update={"outbox_path": tmp_path / "new" / "o.db"})
        service = Service(
            site="Corner Shop", doors=DOORS[:1], source=source, mqtt=mqtt, layout=LAYOUT
        )
        task = asyncio.create_task(service.run(drain_timeout=10))
        stairs = {u for u in want if u.startswith("doorcount_corner_shop_stairs_")}
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and proc.poll() is None:
            left = {e["unique_id"] for e in _registry(root, "entity") if e["platform"] == "mqtt"}
            if not left & stairs:
                break
            await asyncio.sleep(2)
        assert stairs
        assert not left & stairs, f"still registered: {sorted(left & stairs)}"
        assert left == want - stairs
    finally:
        proc.terminate()
        proc.wait(60)
        log.close()
        source.close()
        await asyncio.wait_for(task, 30)
    ids = {e["entity_id"] for e in registered.values()}
    assert "sensor.doorcount_corner_shop_gateway_zone_upstairs_occupancy" in ids
    assert "sensor.doorcount_corner_shop_front_entries" in ids
    assert not any(i.endswith("_2") for i in ids)
    devices = {d["name"] for d in _registry(root, "device")}
    assert {"doorcount Corner Shop", "Corner Shop Front", "Corner Shop Stairs"} <= named
    assert {"doorcount Corner Shop", "Corner Shop Front"} <= devices
    assert "Corner Shop Stairs" not in devices  # its entities went, and the device with them
    text = (root / "ha.log").read_text()
    noisy = [
        line
        for line in text.splitlines()
        if ("WARNING" in line or "ERROR" in line) and ("mqtt" in line or "doorcount" in line)
    ]
    assert not noisy, "\n".join(noisy[:20])
