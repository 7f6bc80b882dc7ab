"""A node's health at a gateway start: unknown until this run's first connection attempt."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.outputs.mqtt.payloads import NodeHealthPayload, decode
from gateway.outputs.mqtt.settings import MqttSettings, OccupancySettings
from gateway.outputs.outbox import Outbox
from gateway.pipeline.service import Pipeline
from gateway.protocol.trace import BeamRef, DoorSpec, Tick
from gateway.sources.base import NodeStatus

T0 = 1_748_944_800.0
DOORS = [DoorSpec("Front", BeamRef("n1", 0), BeamRef("n2", 0))]


def _pipeline(tmp_path: Path) -> Pipeline:
    settings = MqttSettings.model_validate({"outbox_path": tmp_path / "o.db"})
    return Pipeline("Shop", DOORS, settings, OccupancySettings(), Outbox(settings.outbox_path))


def _health(p: Pipeline, node: str) -> NodeHealthPayload:
    rows = [r for r in p.outbox.pending(limit=10**6) if r.topic.endswith(f"node/{node}/health")]
    payload = decode("node_health", rows[-1].payload)
    assert isinstance(payload, NodeHealthPayload)
    return payload


def test_connected_is_unknown_until_an_attempt_ended_in_this_run(tmp_path: Path) -> None:
    p = _pipeline(tmp_path)
    with p.outbox.batch() as batch:
        p.announce(batch)
    assert _health(p, "n1").connected is None
    assert json.loads(p.outbox.pending(limit=10**6)[-1].payload)  # valid JSON throughout
    p.on_status(NodeStatus("n1", T0, connected=False))  # the first attempt failed
    p.on_tick(Tick("n2", 1, 0, 0, 0, True, T0))  # n2 is connected: it sends ticks
    p.commit(now=T0 + 1)
    assert _health(p, "n1").connected is False
    assert _health(p, "n2").connected is True
    p.outbox.close()
    # A restart: what the last run knew is history, not the link's state now.
    q = _pipeline(tmp_path)
    with q.outbox.batch() as batch:
        q.announce(batch)
    assert _health(q, "n2").connected is None
    assert _health(q, "n2").last_seen == T0
