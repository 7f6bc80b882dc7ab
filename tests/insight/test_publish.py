"""The bridge-side forecast job: points in the store, retained messages on a real Mosquitto."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.insight.publish import run_once
from gateway.outputs.bridge import schema
from gateway.outputs.bridge.settings import load_settings
from gateway.outputs.bridge.store import LocalStore
from tests.insight.conftest import fill_store
from tests.support.mqtt import Collector, Mosquitto


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return fill_store(tmp_path / "series.sqlite", weeks=8, split=True, zones={"Cafe": 0.3})


def test_forecast_and_comparison_land_in_the_store_and_on_mqtt(
    store: Path, mosquitto: Mosquitto
) -> None:
    settings = load_settings(store_path=store, mqtt_port=mosquitto.port)
    result = run_once(settings, "Corner Shop", hours=24, store=store)
    assert result.doors == ["Back", "Front door"]
    assert result.zones == ["Cafe"]
    assert result.skipped == {}
    assert sorted(result.forecasts) == sorted(
        [
            *(f"Corner Shop {q}" for q in ("entries", "visitors", "occupancy")),
            *(
                f"Corner Shop / {d} {q}"
                for d in ("Back", "Front door")
                for q in ("entries", "visitors")
            ),
            *(f"Corner Shop / zone Cafe {q}" for q in ("entries", "visitors", "occupancy")),
        ]
    )
    assert result.comparison is not None
    assert result.comparison.days_b == 28
    opened = LocalStore(store)
    site = opened.query(schema.SITE_FORECAST)
    doors = opened.query(schema.DOOR_FORECAST)
    zones = opened.query(schema.ZONE_FORECAST)
    (comparison,) = opened.query(schema.SITE_COMPARISON)
    opened.close()
    assert len(site) == 24  # one point per hour with the fields of every quantity
    assert len(doors) == 48
    assert len(zones) == 24
    for quantity in ("", "visitors_", "occupancy_"):
        assert all(
            0
            <= float(p.fields[f"{quantity}lower"])
            <= float(p.fields[f"{quantity}mean"])
            <= float(p.fields[f"{quantity}upper"])
            for p in site
        )
    # Visitors are the entries less the staff; the mean people inside about the
    # hour's entries per interval (each stays about one 15-minute interval), the zone 30 %.
    noon_site = next(p for p in site if (p.time_ns // 1_000_000_000) % 86400 == 12 * 3600)
    noon_zone = next(p for p in zones if (p.time_ns // 1_000_000_000) % 86400 == 12 * 3600)
    entries, visitors = float(noon_site.fields["mean"]), float(noon_site.fields["visitors_mean"])
    assert 0.85 < visitors / entries < 1  # staff: a tenth, rounded down per interval
    assert 0.15 < float(noon_site.fields["occupancy_mean"]) / entries < 0.35
    assert (
        0.2
        < float(noon_zone.fields["occupancy_mean"]) / float(noon_site.fields["occupancy_mean"])
        < 0.4
    )
    last_interval_hour = 1_767_571_200 + 8 * 7 * 86400  # 2026-01-05 + 8 weeks
    assert site[0].time_ns == last_interval_hour * 1_000_000_000
    noon = next(p for p in site if (p.time_ns // 1_000_000_000) % 86400 == 12 * 3600)
    low, mean, high = (float(noon.fields[k]) for k in ("lower", "mean", "upper"))
    assert low <= mean <= high
    assert float(noon.fields["mean"]) > 20
    assert (
        float(comparison.fields["ci_low"]) < 0 < float(comparison.fields["ci_high"])
    )  # no change simulated
    collector = Collector(mosquitto, "doorcount/#")
    try:
        got = collector.wait_for(lambda m: len(m) >= 11)
    finally:
        collector.close()
    topics = {m.topic: m for m in got}
    assert set(topics) == {
        "doorcount/corner_shop/forecast",
        "doorcount/corner_shop/forecast/visitors",
        "doorcount/corner_shop/forecast/occupancy",
        "doorcount/corner_shop/front_door/forecast",
        "doorcount/corner_shop/front_door/forecast/visitors",
        "doorcount/corner_shop/back/forecast",
        "doorcount/corner_shop/back/forecast/visitors",
        "doorcount/corner_shop/zone/cafe/forecast",
        "doorcount/corner_shop/zone/cafe/forecast/visitors",
        "doorcount/corner_shop/zone/cafe/forecast/occupancy",
        "doorcount/corner_shop/comparison",
    }
    occupancy = json.loads(topics["doorcount/corner_shop/zone/cafe/forecast/occupancy"].payload)
    assert (occupancy["zone"], occupancy["quantity"], occupancy["door"]) == (
        "Cafe",
        "occupancy",
        None,
    )
    assert all(h["lower"] >= 0 for h in occupancy["hours"])
    assert all(m.retain for m in got)
    body = json.loads(topics["doorcount/corner_shop/forecast"].payload)
    assert body["site"] == "Corner Shop"
    assert len(body["hours"]) == 24
    assert body["hours"][0]["t"] == last_interval_hour
    # Reviewed for privacy (docs/privacy.md): counts of our doors, nothing about a visitor.
    assert set(body) == {"site", "door", "zone", "quantity", "model", "level", "made", "hours"}
    assert set(body["hours"][0]) == {"t", "mean", "lower", "upper"}


def test_a_door_with_little_history_is_skipped_and_said(tmp_path: Path) -> None:
    path = fill_store(tmp_path / "s.sqlite", weeks=3)
    fill_store(path, doors={"Side": 0.1}, weeks=1, start="2026-01-19", seed=4)
    settings = load_settings(store_path=path)
    result = run_once(settings, "Corner Shop", hours=6, store=path, mqtt=False)
    assert result.doors == ["Back", "Front door"]
    assert "needs at least 336 hours" in result.skipped["Corner Shop / Side"]
    # Counts from before the visitor split, no zones: visitors and occupancy skipped and said.
    assert "counted before the visitor split" in result.skipped["Corner Shop visitors"]
    assert (
        "no visits intervals (occupancy) for Corner Shop" in result.skipped["Corner Shop occupancy"]
    )
    assert result.forecasts == [
        "Corner Shop entries",
        "Corner Shop / Back entries",
        "Corner Shop / Front door entries",
    ]


def test_cli_publish_once(
    store: Path,
    mosquitto: Mosquitto,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DOORCOUNT_BRIDGE_MQTT_PORT", str(mosquitto.port))
    assert main(["forecast", "publish", "--site", "Corner Shop", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "Corner Shop: 48 h forecast for the site and Back, Front door" in out
    assert main(["forecast", "publish", "--store", str(store)]) == 1
    assert "publish needs --site" in capsys.readouterr().err
    assert main(["forecast", "publish", "--site", "Nowhere", "--store", str(store)]) == 1
    assert "no interval counts for Nowhere" in capsys.readouterr().err
