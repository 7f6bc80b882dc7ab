"""forecast: beats the seasonal-naive baseline on real counts with a calibrated interval;
closed days, holidays, and the refusals."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gateway.cli import main
from gateway.insight.forecast import Calendar, ForecastError, backtest, forecast
from gateway.insight.series import read_csv


def test_real_trail_counts_beat_the_baseline_with_a_calibrated_interval(trail_csv: Path) -> None:
    """Seven weeks of daily origins on real 2019 counts (the full-year figures are in the
    README, made by scripts/burke_gilman.py)."""
    result = backtest(read_csv(trail_csv).hourly())
    assert result.origins >= 45
    assert result.model_mase < result.baseline_mase
    assert result.model_mase < 1.0
    assert 0.72 <= result.coverage_80 <= 0.88


def test_forecast_shape_and_interval_order(trail_csv: Path) -> None:
    history = read_csv(trail_csv).hourly()
    result = forecast(history, 48)
    frame = result.frame
    assert len(frame) == 48
    assert frame.index[0] == history.index[-1] + pd.Timedelta(hours=1)
    assert (frame["lower"] <= frame["mean"] + 1e-9).all()
    assert (frame["mean"] <= frame["upper"] + 1e-9).all()
    assert (frame["lower"] >= 0).all()
    night = frame[frame.index.hour == 3]["mean"]
    noon = frame[frame.index.hour == 12]["mean"]
    assert noon.min() > 5 * night.max()


def test_closed_day_is_zero_and_left_out_of_the_fit(hourly_csv: Callable[..., Path]) -> None:
    history = read_csv(hourly_csv(weeks=4)).hourly()  # ends Sunday night
    monday = (history.index[-1] + pd.Timedelta(hours=1)).date()
    calendar = Calendar(closed=frozenset({monday}))
    result = forecast(history, 48, calendar=calendar).frame
    first = result[result.index.date == monday]
    assert (first.to_numpy() == 0).all()
    second = result[result.index.date != monday]
    assert second["mean"].max() > 10
    # A closed day in the history (zeros all day) does not drag its weekday down.
    closed_history = history.copy()
    last_monday = history.index[-168].date()
    closed_history[closed_history.index.date == last_monday] = 0.0
    plain = forecast(closed_history, 24).frame["mean"].sum()
    told = (
        forecast(closed_history, 24, calendar=Calendar(closed=frozenset({last_monday})))
        .frame["mean"]
        .sum()
    )
    assert told > plain * 1.05


def test_holiday_is_forecast_like_a_sunday(hourly_csv: Callable[..., Path]) -> None:
    history = read_csv(hourly_csv(weeks=4)).hourly()
    tuesday = (history.index[-1] + pd.Timedelta(days=1, hours=1)).date()
    plain = forecast(history, 48).frame
    holiday = forecast(history, 48, calendar=Calendar(holidays=frozenset({tuesday}))).frame
    day = holiday.index.date == tuesday
    sundays = history[history.index.day_of_week == 6]
    sunday_noon = sundays[sundays.index.hour == 12].mean()
    assert holiday["mean"][day & (holiday.index.hour == 12)].iloc[0] == pytest.approx(
        sunday_noon, rel=0.35
    )
    assert not np.allclose(plain["mean"][day], holiday["mean"][day])


def test_stl_ets_and_naive_run(trail_csv: Path) -> None:
    history = read_csv(trail_csv).hourly()
    for model in ("stl-ets", "naive"):
        frame = forecast(history, 24, model=model).frame
        assert np.isfinite(frame.to_numpy()).all()
        assert (frame["lower"] <= frame["upper"]).all()
    naive = forecast(history, 24, model="naive").frame["mean"].to_numpy()
    assert np.array_equal(naive, history.to_numpy()[-168 : -168 + 24])


def test_too_little_history(hourly_csv: Callable[..., Path]) -> None:
    short = read_csv(hourly_csv(weeks=1)).hourly()
    with pytest.raises(ForecastError, match="needs at least 336 hours"):
        forecast(short, 24)
    longer = read_csv(hourly_csv(weeks=4)).hourly()
    with pytest.raises(ForecastError, match="needs at least 696 hours"):
        backtest(longer)


def test_daily_series_cannot_be_forecast_hourly(
    write_csv: Callable[[str, str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    rows = "\n".join(
        f"{d.date().isoformat()},{100 + d.day}" for d in pd.date_range("2026-01-01", periods=40)
    )
    path = write_csv("daily.csv", "time,count\n" + rows + "\n")
    assert main(["forecast", "--series", str(path)]) == 1
    assert "needs hourly or finer intervals, the step is 1 day" in capsys.readouterr().err


def test_cli_backtest_json(trail_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["forecast", "backtest", "--series", str(trail_csv), "--origins", "8", "--json"]) == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert {"model_mase", "baseline_mase", "coverage_80"} <= set(out)
    assert out["origins"] == 8
    assert main(["forecast", "backtest", "--series", str(trail_csv), "--origins", "4"]) == 0
    assert "same hour last week" in capsys.readouterr().out


def test_cli_forecast_json_and_table(
    hourly_csv: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = hourly_csv(weeks=3)
    assert (
        main(
            ["forecast", "--series", str(path), "--hours", "6", "--closed", "2026-01-26", "--json"]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert len(out["hours"]) == 6
    assert all(h["mean"] == 0 for h in out["hours"])  # Monday 2026-01-26 is closed
    assert main(["forecast", "--series", str(path), "--hours", "3"]) == 0
    assert "expected" in capsys.readouterr().out
    assert main(["forecast", "--series", str(path), "--closed", "26/01/2026"]) == 1
    assert "--closed wants YYYY-MM-DD" in capsys.readouterr().err


def test_calendar_holidays_map_to_sunday() -> None:
    index = pd.date_range("2026-12-24", periods=48, freq="h")
    hours = Calendar(holidays=frozenset({date(2026, 12, 25)})).weekday_hours(index)
    assert hours[0] == 3 * 24  # Thursday 00:00
    assert hours[24] == 6 * 24  # Friday the 25th, as a Sunday


def test_occupancy_zone_forecast_from_the_store_never_goes_below_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.insight.conftest import fill_store

    store = fill_store(tmp_path / "s.sqlite", weeks=3, split=True, zones={"Cafe": 0.3})
    base = ["forecast", "--store", str(store), "--tz", "UTC", "--hours", "48", "--json"]
    for model in ("profile", "naive", "stl-ets"):
        args = [*base, "--site", "Corner Shop", "--zone", "Cafe", "--field", "occupancy"]
        assert main([*args, "--model", model]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["series"] == "Corner Shop / zone Cafe occupancy"
        assert all(0 <= h["lower"] <= h["upper"] for h in out["hours"]), model
        assert min(h["lower"] for h in out["hours"]) == 0  # nights: nobody inside
    assert main([*base, "--series", "site=Corner Shop,field=visitors"]) == 0
    assert json.loads(capsys.readouterr().out)["series"] == "Corner Shop visitors"
    assert (
        main(
            [
                "forecast",
                "backtest",
                "--store",
                str(store),
                "--site",
                "Corner Shop",
                "--field",
                "occupancy",
                "--warmup-weeks",
                "2",
                "--json",
            ]
        )
        == 0
    )
    assert {"model_mase", "baseline_mase", "coverage_80"} <= set(
        json.loads(capsys.readouterr().out)
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--zone", "Cafe"], "--door, --zone and --field go with --site"),
        (
            ["--site", "S", "--door", "A", "--field", "occupancy"],
            "occupancy is kept per site and zone",
        ),
        (["--site", "S", "--door", "A", "--zone", "B"], "give --door or --zone, not both"),
        (["--site", "S", "--series", "x.csv"], "give one series (--series SPEC, or --site NAME"),
        (["--series", "site=S,door=A,zone=B"], "give door= or zone=, not both"),
        (["--series", "site=S,door=A,field=occupancy"], "occupancy is kept per site and zone"),
        (
            ["--series", "site=S,field=people"],
            "field is one of entries, exits, visitors, occupancy",
        ),
        (
            ["publish", "--site", "S", "--zone", "A"],
            "--door, --zone and --field are for show and backtest",
        ),
    ],
)
def test_cli_place_refusals(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["forecast", *args, "--store", str(tmp_path / "none.sqlite")])
    assert code == 1
    assert message in capsys.readouterr().err
