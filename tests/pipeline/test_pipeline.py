"""The service's synchronous core without a broker: a full outbox, occupancy resets, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.core.events import Crossing, Health
from gateway.outputs.mqtt.settings import MqttSettings, OccupancySettings
from gateway.outputs.outbox import Outbox
from gateway.pipeline.service import Pipeline
from gateway.protocol.trace import BeamRef, DoorSpec, Tick
from gateway.sources.base import NodeStatus

T0 = 1_748_944_800.0
DOORS = [DoorSpec("Front", BeamRef("n1", 0), BeamRef("n1", 1))]


def _pipeline(tmp_path: Path, **mqtt: object) -> Pipeline:
    settings = MqttSettings.model_validate({"outbox_path": tmp_path / "o.db", **mqtt})
    box = Outbox(
        settings.outbox_path, max_rows=settings.outbox_max_rows, policy=settings.outbox_policy
    )
    return Pipeline("Shop", DOORS, settings, OccupancySettings(idle_reset_hours=1), box)


def _latest(p: Pipeline, suffix: str) -> dict[str, object]:
    rows = [r for r in p.outbox.pending(limit=10**6) if r.topic.endswith(suffix)]
    return dict(json.loads(rows[-1].payload))


def test_a_full_outbox_drops_events_first_and_reports_it(tmp_path: Path) -> None:
    p = _pipeline(tmp_path, outbox_max_rows=100)
    for minute in range(10):
        p.on_events(
            Crossing("Front", "in", T0 + minute * 60 + i, "single", 1.0, T0) for i in range(20)
        )
        p.commit(now=T0 + minute * 60 + 30)
    p.commit(now=T0 + 3600, flush=True)
    rows = p.outbox.pending(limit=10**6)
    assert len(rows) == 100
    intervals = [json.loads(r.payload) for r in rows if r.topic.endswith("/interval")]
    assert [i["entries"] for i in intervals[:10]] == [20] * 10  # the counts survived
    quality = _latest(p, "gateway/quality")
    assert quality["outbox_dropped"] == p.outbox.dropped > 0
    assert quality["outbox_depth"] == 100


def test_idle_reset_and_floor_reach_the_site_payload(tmp_path: Path) -> None:
    p = _pipeline(tmp_path)
    p.on_events(
        [
            Crossing("Front", "in", T0 + 1, "single", 1.0, T0 + 1),
            Crossing("Front", "in", T0 + 2, "single", 1.0, T0 + 2),
        ]
    )
    p.commit(now=T0 + 3)
    site = _latest(p, "shop/occupancy")
    assert (site["occupancy"], site["entries"], site["corrected"]) == (2, 2, 0)
    p.commit(now=T0 + 3700)  # an hour without anyone: idle reset
    site = _latest(p, "shop/occupancy")
    assert (site["occupancy"], site["corrected"], site["reset_reason"]) == (0, 2, "idle")
    quality = _latest(p, "gateway/quality")
    assert quality["occupancy_corrected"] == 2


def test_health_events_and_node_status_reach_the_node_payload(tmp_path: Path) -> None:
    p = _pipeline(tmp_path)
    p.on_tick(Tick("n1", 1, 0, 0, 0, True, T0))
    p.on_status(
        NodeStatus(
            "n1", T0 + 1, connected=True, rssi=-61, battery_pct=88, duplicates=3, bad_frames=1
        )
    )
    p.on_events([Health("seq_gap", T0 + 2, "n1"), Health("beam_stuck", T0 + 2, "n1", "Front", 0)])
    p.commit(now=T0 + 3)
    health = _latest(p, "node/n1/health")
    assert {
        k: health[k]
        for k in (
            "door",
            "position",
            "connected",
            "rssi",
            "battery_pct",
            "gaps",
            "duplicates",
            "beam_stuck",
        )
    } == {
        "door": "Front",
        "position": "dual",
        "connected": True,
        "rssi": -61,
        "battery_pct": 88,
        "gaps": 1,
        "duplicates": 3,
        "beam_stuck": True,
    }
    quality = _latest(p, "gateway/quality")
    assert (quality["seq_gaps"], quality["duplicates_dropped"], quality["bad_frames"]) == (1, 3, 1)


def test_state_survives_a_reopen(tmp_path: Path) -> None:
    p = _pipeline(tmp_path)
    p.on_events([Crossing("Front", "in", T0 + 1, "single", 1.0, T0 + 1)])
    p.commit(now=T0 + 70)
    p.outbox.close()
    again = _pipeline(tmp_path)
    assert again.occupancy.state.occupancy == 1
    again.on_events([Crossing("Front", "out", T0 + 2, "single", 1.0, T0 + 75)])
    again.commit(now=T0 + 75)
    interval = _latest(again, "/interval")
    assert (interval["entries"], interval["exits"], interval["revision"]) == (1, 1, 1)


def test_run_rejects_a_bad_config_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "gw.toml"
    config.write_text('[mqtt]\nport = 70000\nqos = 0\n[source]\ntrace = "t.jsonl"\n')
    assert main(["run", "-c", str(config)]) == 1
    err = capsys.readouterr().err
    assert "mqtt.port" in err
    assert "mqtt.qos" in err
    config.write_text("[mqtt\n")
    assert main(["run", "-c", str(config)]) == 1
    assert "not valid TOML" in capsys.readouterr().err
    config.write_text("[mqtt]\n")
    assert main(["run", "-c", str(config)]) == 1
    assert "no tick source" in capsys.readouterr().err


def test_a_reset_inside_a_batch_happens_between_the_crossings(tmp_path: Path) -> None:
    """One batch spans the idle-reset time: crossings before it are reset, those after stay."""
    p = _pipeline(tmp_path)
    p.commit(now=T0)
    p.on_events(
        [
            Crossing("Front", "in", T0 + 1, "single", 1.0, T0 + 1),
            Crossing("Front", "in", T0 + 5000, "single", 1.0, T0 + 5000),
        ]
    )
    p.commit(now=T0 + 5001)
    site = _latest(p, "shop/occupancy")
    assert (site["occupancy"], site["entries"], site["corrected"]) == (1, 1, 1)
    assert site["last_reset"] == T0 + 1 + 3600


def test_an_unreadable_engine_snapshot_starts_afresh_instead_of_crash_looping(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from gateway.core.engine import Engine
    from gateway.pipeline.service import default_engine

    good = Engine(DOORS)
    restored = default_engine(DOORS, good.snapshot())
    assert isinstance(restored, Engine)
    assert restored.doors == DOORS
    # A snapshot another version wrote (or a damaged one) must not stop the gateway for good.
    engine = default_engine(DOORS, b"\x80\x05not a pickle")
    assert isinstance(engine, Engine)
    assert engine.doors == DOORS
    assert "cannot be read" in caplog.text
