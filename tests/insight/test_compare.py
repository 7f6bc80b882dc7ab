"""compare: honest p-values and intervals on simulated over-dispersed footfall, the planning
figure against simulation, and the refusals."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gateway.cli import main
from gateway.insight.compare import CompareError, compare
from tests.insight.conftest import DailyPair, fill_store
from tests.support.tsdb import Influx1

PAIRS = 200


def test_no_change_is_significant_about_5_percent_of_the_time(daily_pair: DailyPair) -> None:
    results = [compare(*daily_pair(seed)) for seed in range(PAIRS)]
    false_alarms = sum(r.p_value < 0.05 for r in results) / PAIRS
    covered = sum(r.ci_low <= 0 <= r.ci_high for r in results) / PAIRS
    assert 0.03 <= false_alarms <= 0.08
    assert 0.92 <= covered <= 0.98
    assert all(r.design == "periods" for r in results)


def test_a_15_percent_rise_over_four_weeks_is_found_and_covered(daily_pair: DailyPair) -> None:
    results = [compare(*daily_pair(10_000 + seed, change=0.15)) for seed in range(PAIRS)]
    found = sum(r.p_value < 0.05 and r.change > 0 for r in results) / PAIRS
    covered = sum(r.ci_low <= 0.15 <= r.ci_high for r in results) / PAIRS
    assert found >= 0.7
    assert 0.92 <= covered <= 0.98
    assert abs(np.median([r.change for r in results]) - 0.15) < 0.02


def test_days_needed_gives_the_power_it_promises(daily_pair: DailyPair) -> None:
    """Plan from one fitted pair, then simulate that many days per period with a real +10 %
    change from the fitted model: about 80 % of the simulated studies must find it."""
    plan = compare(*daily_pair(7, days=56), detect=0.10)
    assert plan.days_needed is not None
    days = plan.days_needed
    assert 20 <= days <= 120
    rng = np.random.default_rng(99)
    shape = np.array([1.0, 0.95, 1.0, 1.05, 1.2, 1.6, 1.3])
    mean = plan.mean_a / shape.mean()
    n = 1 / plan.dispersion
    found = 0
    trials = 200
    for _ in range(trials):
        index = pd.date_range("2026-01-05", periods=2 * days, freq="D")
        level = mean * shape[index.day_of_week] * np.r_[np.ones(days), np.full(days, 1.1)]
        counts = pd.Series(rng.negative_binomial(n, n / (n + level)).astype(float), index=index)
        found += compare(counts.iloc[:days], counts.iloc[days:]).p_value < 0.05
    assert 0.7 <= found / trials <= 0.9


def test_two_doors_over_the_same_days_are_paired() -> None:
    """Weather moves both doors alike; pairing by day leaves only their ratio to chance."""
    false_alarms = 0
    trials = 200
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        index = pd.date_range("2026-01-05", periods=28, freq="D")
        weather = rng.lognormal(0, 0.3, len(index))  # far more than either door's own noise
        level = 200 * weather

        n = 1 / 0.01
        north, south = (
            pd.Series(rng.negative_binomial(n, n / (n + level)).astype(float), index=index)
            for _ in range(2)
        )
        result = compare(north, south)
        assert result.design == "paired"
        false_alarms += result.p_value < 0.05
    assert 0.02 <= false_alarms / trials <= 0.09
    rng = np.random.default_rng(5)
    index = pd.date_range("2026-01-05", periods=28, freq="D")
    level = 200 * rng.lognormal(0, 0.3, len(index))
    north = pd.Series(rng.poisson(level).astype(float), index=index)
    south = pd.Series(rng.poisson(level * 1.3).astype(float), index=index)
    result = compare(north, south)
    assert result.ci_low < 0.3 < result.ci_high
    assert result.ci_high - result.ci_low < 0.1


def test_closed_weekday_is_left_out_and_said(daily_pair: DailyPair) -> None:
    a, b = daily_pair(3)
    a[a.index.day_of_week == 6] = 0
    b[b.index.day_of_week == 6] = 0
    result = compare(a, b)
    assert result.closed_weekdays == ("Sun",)
    assert any("closed weekdays left out" in line for line in result.assumptions)
    assert math.isfinite(result.p_value)


def test_exposure_makes_a_rate_comparable(daily_pair: DailyPair) -> None:
    """A KPI that is a rate (e.g. visitors per open hour) plugs in as counts with exposure."""
    a, b = daily_pair(4)
    hours_a = pd.Series(10.0, index=a.index)
    hours_b = pd.Series(20.0, index=b.index)  # B opened twice as long and counted twice as many
    result = compare(a, b * 2, exposure_a=hours_a, exposure_b=hours_b)
    assert result.ci_low < 0 < result.ci_high


@pytest.mark.parametrize(
    ("days_a", "offset", "message"),
    [
        (6, 28, "A has 6 whole day(s); a comparison needs at least 7"),
        (28, 14, "overlap in part"),
    ],
)
def test_refusals(days_a: int, offset: int, message: str) -> None:
    index = pd.date_range("2026-01-05", periods=60, freq="D")
    counts = pd.Series(100.0, index=index)
    with pytest.raises(CompareError, match=re.escape(message)):
        compare(counts.iloc[:days_a], counts.iloc[offset : offset + 28])


def test_nobody_counted_is_refused() -> None:
    index = pd.date_range("2026-01-05", periods=28, freq="D")
    with pytest.raises(CompareError, match="B counts nobody"):
        compare(pd.Series(5.0, index=index), pd.Series(0.0, index=index + pd.Timedelta(days=28)))


def test_cli_json(
    daily_pair: DailyPair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = []
    for name, series in zip("AB", daily_pair(11, change=0.3), strict=True):
        path = tmp_path / f"{name}.csv"
        pd.DataFrame(
            {"time": series.index.strftime("%Y-%m-%dT00:00+01:00"), "count": series.astype(int)}
        ).to_csv(path, index=False)
        paths += ["--series", str(path)]
    assert main(["compare", *paths, "--detect", "20", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"change", "ci_low", "ci_high", "p_value", "days_needed", "assumptions"} <= set(out)
    assert out["ci_low"] < out["change"] < out["ci_high"]
    assert out["p_value"] < 0.05
    assert out["detect"] == 0.2
    assert main(["compare", *paths]) == 0
    table = capsys.readouterr().out
    assert "95% interval" in table
    assert "assumptions:" in table


def test_cli_wants_two_series(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["compare", "--series", str(tmp_path / "a.csv")]) == 1
    assert "give --series twice" in capsys.readouterr().err


def test_cli_two_periods_and_two_doors_from_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = fill_store(tmp_path / "s.sqlite", weeks=4)
    periods = [
        "--series",
        "site=Corner Shop,to=2026-01-19",
        "--series",
        "site=Corner Shop,from=2026-01-19",
    ]
    assert main(["compare", *periods, "--store", str(store), "--tz", "UTC", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["design"], out["days_a"], out["days_b"]) == ("periods", 14, 14)
    assert out["a"] == "Corner Shop […..2026-01-19)"
    doors = [
        "--series",
        "site=Corner Shop,door=Back",
        "--series",
        "site=Corner Shop,door=Front door",
    ]
    assert main(["compare", *doors, "--store", str(store), "--tz", "UTC", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["design"] == "paired"
    assert out["ci_low"] < 0.7 / 0.3 - 1 < out["ci_high"]  # the doors' shares are 0.7 and 0.3
    bad = ["--series", "site=Corner Shop,when=2026-01-01", "--series", "x.csv"]
    assert main(["compare", *bad, "--store", str(store)]) == 1
    assert "wanted key=value pairs of site, door, zone, field, from, to" in capsys.readouterr().err


def test_cli_reads_influxdb_when_the_bridge_has_one(
    tmp_path: Path,
    influxdb1: Influx1,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from datetime import UTC, datetime, timedelta

    from gateway.outputs.bridge.points import Point, encode
    from gateway.outputs.bridge.store import LocalStore

    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = (end - timedelta(days=21)).strftime("%Y-%m-%d")
    store = fill_store(
        tmp_path / "s.sqlite",
        weeks=3,
        start=start,
        seconds=3600,
        split=True,
        zones={"Cafe": 0.3, "Shop floor": 0.7},
    )
    opened = LocalStore(store)
    points = opened.query("door_interval") + opened.query("visits")
    opened.close()
    influxdb1.create_database("doorcount")
    influxdb1.write(
        "doorcount",
        encode(
            [Point.make(p.measurement, dict(p.tags), dict(p.fields), p.time_ns) for p in points]
        ),
    )
    monkeypatch.setenv("DOORCOUNT_BRIDGE_INFLUX_URL", influxdb1.url)
    monkeypatch.setenv("DOORCOUNT_BRIDGE_INFLUX_API", "v1")
    series = [
        "--series",
        "site=Corner Shop,door=Back",
        "--series",
        "site=Corner Shop,door=Front door",
    ]
    assert main(["compare", *series, "--json"]) == 0
    from_influx = json.loads(capsys.readouterr().out)
    assert main(["compare", *series, "--store", str(store), "--tz", "UTC", "--json"]) == 0
    from_store = json.loads(capsys.readouterr().out)
    assert from_influx["days_a"] == from_store["days_a"] == 21
    assert from_influx["change"] == pytest.approx(from_store["change"])
    zones = ["--site", "Corner Shop", "--zone", "Cafe", "--zone", "Shop floor"]
    for field in ("entries", "visitors", "occupancy"):
        assert main(["compare", *zones, "--field", field, "--json"]) == 0
        from_influx = json.loads(capsys.readouterr().out)
        assert (
            main(
                [
                    "compare",
                    *zones,
                    "--field",
                    field,
                    "--store",
                    str(store),
                    "--tz",
                    "UTC",
                    "--json",
                ]
            )
            == 0
        )
        from_store = json.loads(capsys.readouterr().out)
        assert from_influx["days_a"] == from_store["days_a"] == 21, field
        assert from_influx["change"] == pytest.approx(from_store["change"]), field
    # A zone's occupancy forecast from InfluxDB equals the one from the store.
    forecast = ["forecast", "--site", "Corner Shop", "--zone", "Cafe", "--field", "occupancy"]
    assert main([*forecast, "--hours", "6", "--json"]) == 0
    remote = json.loads(capsys.readouterr().out)["hours"]
    assert main([*forecast, "--hours", "6", "--json", "--store", str(store), "--tz", "UTC"]) == 0
    assert remote == json.loads(capsys.readouterr().out)["hours"]


def test_cli_two_zones_and_their_occupancy_from_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = fill_store(
        tmp_path / "s.sqlite", weeks=4, split=True, zones={"Cafe": 0.3, "Shop floor": 0.7}
    )
    common = ["--store", str(store), "--tz", "UTC", "--json"]
    zones = ["--site", "Corner Shop", "--zone", "Cafe", "--zone", "Shop floor"]
    assert main(["compare", *zones, *common]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["a"], out["b"], out["design"]) == (
        "Corner Shop / zone Cafe",
        "Corner Shop / zone Shop floor",
        "paired",
    )
    assert out["ci_low"] < 0.7 / 0.3 - 1 < out["ci_high"]
    assert main(["compare", *zones, "--field", "occupancy", *common]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["a"] == "Corner Shop / zone Cafe occupancy"
    assert out["ci_low"] < 0.7 / 0.3 - 1 < out["ci_high"]
    # Two periods of a zone, as with a door: spec keys
    periods = [
        "--series",
        "site=Corner Shop,zone=Cafe,field=visitors,to=2026-01-19",
        "--series",
        "site=Corner Shop,zone=Cafe,field=visitors,from=2026-01-19",
    ]
    assert main(["compare", *periods, *common]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["design"], out["days_a"], out["days_b"]) == ("periods", 14, 14)
    assert main(["compare", "--site", "Corner Shop", "--zone", "Cafe", *common]) == 1
    assert "or --site with --door or --zone twice, got 1 series" in capsys.readouterr().err
    assert (
        main(["compare", "--site", "Corner Shop", "--zone", "Attic", "--zone", "Cafe", *common])
        == 1
    )
    assert "zone Attic" in capsys.readouterr().err
