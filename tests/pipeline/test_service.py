"""The whole gateway service against a real Mosquitto: trace in, interval counts out, equal to
`doorcount eval`; Home Assistant discovery; and the fault test (broker down + kill -9)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.errors import ServiceError
from gateway.outputs.mqtt.settings import MqttSettings
from gateway.outputs.outbox import Outbox
from gateway.pipeline.service import Service
from gateway.protocol.trace import BeamRef, DoorSpec, Tick
from gateway.sources.base import QueueSource, ResumePoints, SourceItem
from gateway.sources.tracefile import TraceReplay
from tests.support.mqtt import (
    Collector,
    Mosquitto,
    eval_intervals,
    final_intervals,
    free_port,
    start_gateway,
    write_run_config,
    write_trace_file,
)


def _settings(broker: Mosquitto, tmp_path: Path, **kw: object) -> MqttSettings:
    tmp_path.mkdir(parents=True, exist_ok=True)  # the outbox never creates its folder
    values: dict[str, object] = {
        "host": broker.host,
        "port": broker.port,
        "outbox_path": tmp_path / "o.db",
        "reconnect_min": 0.05,
        "reconnect_max": 0.3,
        **kw,
    }
    return MqttSettings.model_validate(values)


def _assert_intervals_equal_eval(
    got: dict[tuple[str, int], dict[str, int]], want: dict[tuple[str, int], tuple[int, int]]
) -> None:
    assert set(want) <= set(got), f"intervals never published: {sorted(set(want) - set(got))}"
    wrong = {
        key: ((p["entries"], p["exits"]), want.get(key, (0, 0)))
        for key, p in got.items()
        if (p["entries"], p["exits"]) != want.get(key, (0, 0))
    }
    assert not wrong, f"(got, eval) per interval: {wrong}"
    for door in {d for d, _ in got}:
        starts = sorted(s for d, s in got if d == door)
        assert starts == list(range(starts[0], starts[-1] + 60, 60)), f"holes at {door}"


@pytest.mark.servers
async def test_replayed_trace_publishes_what_eval_counts(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    trace = write_trace_file(tmp_path / "t.jsonl", "busy", 300)
    collector = Collector(mosquitto, "#")
    source = TraceReplay(trace)
    service = Service(
        site=source.header.site,
        doors=source.header.doors,
        source=source,
        mqtt=_settings(mosquitto, tmp_path),
    )
    await asyncio.wait_for(service.run(drain_timeout=30), 60)
    want = eval_intervals(trace)
    snap = collector.wait_for(lambda m: any(x.payload == b"offline" for x in m))
    got = final_intervals(snap)
    _assert_intervals_equal_eval(got, want)
    assert len(got) >= 5
    by_topic = {m.topic: m for m in snap}
    site = json.loads(by_topic["doorcount/sim-busy/occupancy"].payload)
    assert site["v"] == 1
    assert site["occupancy"] >= 0
    assert site["entries"] == sum(v[0] for v in want.values())
    assert site["exits"] == sum(v[1] for v in want.values())
    door = json.loads(by_topic["doorcount/sim-busy/door1/occupancy"].payload)
    assert door["net"] == door["entries"] - door["exits"]
    quality = json.loads(by_topic["doorcount/sim-busy/gateway/quality"].payload)
    assert quality["outbox_dropped"] == 0
    crossings = [json.loads(m.payload) for m in snap if m.topic.endswith("/crossing")]
    assert len(crossings) == sum(a + b for a, b in want.values())
    assert len({c["id"] for c in crossings}) == len(crossings)
    assert "homeassistant/sensor/doorcount_sim-busy_door1/entries/config" in by_topic
    collector.close()


@pytest.mark.servers
async def test_home_assistant_online_re_announces_and_removed_doors_are_deleted(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    doors = [
        DoorSpec("Front", BeamRef("n1", 0), BeamRef("n1", 1)),
        DoorSpec("Back", BeamRef("n2", 0), BeamRef("n3", 0)),
    ]
    collector = Collector(mosquitto, "homeassistant/#")
    source = QueueSource()
    service = Service(site="Shop", doors=doors, source=source, mqtt=_settings(mosquitto, tmp_path))
    task = asyncio.create_task(service.run(drain_timeout=10))

    def configs() -> list[str]:
        return [m.topic for m in collector.snapshot() if m.topic.endswith("/config")]

    await asyncio.to_thread(collector.wait_for, lambda m: len(configs()) >= 15)
    first = len(configs())
    collector.client.publish("homeassistant/status", b"online", qos=1)
    await asyncio.to_thread(collector.wait_for, lambda m: len(configs()) >= 2 * first)
    source.close()
    await asyncio.wait_for(task, 30)

    # The next run has no Back door any more: its entities are removed (empty retained config).
    source = QueueSource()
    service = Service(
        site="Shop", doors=doors[:1], source=source, mqtt=_settings(mosquitto, tmp_path)
    )
    task = asyncio.create_task(service.run(drain_timeout=10))
    back = "homeassistant/sensor/doorcount_shop_back/entries/config"
    await asyncio.to_thread(
        collector.wait_for, lambda m: any(x.topic == back and x.payload == b"" for x in m)
    )
    source.close()
    await asyncio.wait_for(task, 30)
    collector.close()
    fresh = Collector(mosquitto, "homeassistant/#", client_id="fresh")
    retained = fresh.wait_for(lambda m: len(m) >= 9)
    time.sleep(0.2)
    retained = fresh.snapshot()
    assert all("doorcount_shop_back" not in m.topic for m in retained)
    # gateway (visitors, staff, mean visit, capture rate, connectivity, ...), Front, node
    assert len(retained) == 8 + 4 + 2
    fresh.close()


@pytest.mark.servers
async def test_a_lost_outbox_still_clears_stale_entities_of_this_site_only(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """The demo replaces its state dir: the next run cannot know from its outbox what it
    announced before. It reads the retained configs of its site from the broker instead and
    clears those it does not announce now; another site's are left alone."""
    doors = [
        DoorSpec("Front", BeamRef("n1", 0), BeamRef("n1", 1)),
        DoorSpec("Back", BeamRef("n2", 0), BeamRef("n3", 0)),
    ]
    collector = Collector(mosquitto, "homeassistant/#")
    for site, where in (("Shop", "a"), ("Shop 2", "c")):  # "shop_2" starts like "shop_"
        source = QueueSource()
        mqtt = _settings(mosquitto, tmp_path / where, client_id=f"gw-{where}")
        task = asyncio.create_task(
            Service(site=site, doors=doors, source=source, mqtt=mqtt).run(drain_timeout=10)
        )
        await asyncio.to_thread(
            collector.wait_for,
            lambda m, s=site: any(
                f"doorcount_{s.lower().replace(' ', '_')}_back" in x.topic for x in m
            ),
        )
        source.close()
        await asyncio.wait_for(task, 30)

    source = QueueSource()  # Shop again, with a new outbox and without the Back door
    mqtt = _settings(mosquitto, tmp_path / "b", client_id="gw-a")
    service = Service(site="Shop", doors=doors[:1], source=source, mqtt=mqtt)
    task = asyncio.create_task(service.run(drain_timeout=10))
    back = "homeassistant/sensor/doorcount_shop_back/entries/config"
    await asyncio.to_thread(
        collector.wait_for, lambda m: any(x.topic == back and x.payload == b"" for x in m)
    )
    source.close()
    await asyncio.wait_for(task, 30)
    collector.close()
    fresh = Collector(mosquitto, "homeassistant/#", client_id="fresh")
    retained = fresh.wait_for(lambda m: len(m) >= 14 + 22)  # Shop, Shop 2
    topics = {m.topic for m in retained}
    assert not any("doorcount_shop_back" in t for t in topics)
    assert "homeassistant/sensor/doorcount_shop_2_back/entries/config" in topics
    assert sum("doorcount_shop_2_" in t for t in topics) == 8 + 4 + 2 + 4 + 2 * 2
    fresh.close()


def _fault_run(
    broker: Mosquitto, tmp_path: Path, scenario: str, duration: float, speed: float, kills: int
) -> None:
    trace = write_trace_file(tmp_path / "t.jsonl", scenario, duration, seed=3)
    want = eval_intervals(trace)
    collector = Collector(broker, "doorcount/#")
    config = write_run_config(tmp_path, broker, trace, speed=speed)
    gateway = start_gateway(config)
    try:
        for kill in range(kills):
            collector.wait_for(lambda m, k=kill: len(final_intervals(m)) >= 2 + 3 * k, timeout=60)
            broker.stop()
            time.sleep(1.5)  # counting and queueing go on without the broker
            assert gateway.poll() is None, "the replay ended before the kill: use a longer trace"
            os.kill(gateway.pid, signal.SIGKILL)
            gateway.wait(10)
            gateway = start_gateway(config)  # resumes from its database
            time.sleep(1.0)
            broker.start()
        assert gateway.wait(300) == 0, (config.parent / "gateway.log").read_text()
    finally:
        if gateway.poll() is None:
            gateway.kill()
            gateway.wait()
    snap = collector.wait_for(lambda m: m and m[-1].payload == b"offline", timeout=30)
    _assert_intervals_equal_eval(final_intervals(snap), want)
    log = (config.parent / "gateway.log").read_text()
    assert log.count("resuming") == kills
    collector.close()


@pytest.mark.servers
def test_fault_broker_down_and_gateway_kill_9_lose_and_double_nothing(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """While a trace plays, the broker goes away, the gateway is SIGKILLed and restarted, the
    broker comes back: every interval arrives and its final value equals `doorcount eval`."""
    _fault_run(mosquitto, tmp_path, "flaky-ble", 600, speed=60, kills=1)


@pytest.mark.slow
@pytest.mark.servers
def test_fault_soak_three_kills_on_a_busy_multi_door_trace(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    _fault_run(mosquitto, tmp_path, "mall", 3600, speed=120, kills=3)


# -- fail loudly: a failing source or link stops the service with its cause ---------------------


@pytest.mark.servers
def test_run_over_a_trace_with_a_bad_line_exits_non_zero_naming_the_line(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Before: the replay stopped at the bad line and `doorcount run` exited 0, silently.
    Now it exits 1 with one line naming the trace and the line; what was counted before the
    bad line is committed and delivered (nothing committed is lost)."""
    trace = write_trace_file(tmp_path / "t.jsonl", "busy", 300)
    lines = trace.read_text().splitlines()
    bad = len(lines) // 2
    lines.insert(bad - 1, '{"type": "tick", "node": "n1", "boot": 1, "seq": "x"}')
    trace.write_text("\n".join(lines) + "\n")
    config = write_run_config(tmp_path, mosquitto, trace)
    collector = Collector(mosquitto, "#")
    run = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "run", "-c", str(config), "--drain-timeout", "20"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert run.returncode == 1, run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("doorcount run: the tick source failed: trace "), run.stderr
    assert f"line {bad}: tick 'seq' must be an integer" in last
    snap = collector.wait_for(lambda m: any(x.payload == b"offline" for x in m))
    collector.close()
    assert any(m.topic.endswith("/crossing") for m in snap)  # the part before it was counted
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    try:
        assert outbox.checkpoint()  # the engine checkpoint up to the failure is committed
    finally:
        outbox.close()


class _FailingSource(QueueSource):
    async def stream(self, resume: ResumePoints) -> AsyncIterator[SourceItem]:
        yield Tick("n1", 1, 0, 0, 0, True, 1.0)
        raise OSError(5, "Input/output error")


async def test_a_failing_source_stops_the_service_with_its_cause(tmp_path: Path) -> None:
    """No broker needed: the failure ends `run` with a ServiceError, not a clean return."""
    doors = [DoorSpec("Front", BeamRef("n1", 0), BeamRef("n1", 1))]
    mqtt = MqttSettings.model_validate(
        {"host": "127.0.0.1", "port": free_port(), "outbox_path": tmp_path / "o.db"}
    )
    service = Service(site="Shop", doors=doors, source=_FailingSource(), mqtt=mqtt)
    with pytest.raises(ServiceError, match=r"the tick source failed: OSError: \[Errno 5\]"):
        await asyncio.wait_for(service.run(drain_timeout=0), 30)
