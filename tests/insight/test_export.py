"""export: tidy CSV and Parquet tables for BI tools, and the `time,count` form read back."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from gateway.cli import main
from gateway.insight.series import read_csv
from tests.insight.conftest import fill_store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fill_store(tmp_path_factory.mktemp("export") / "s.sqlite", weeks=1)


def test_csv_per_hour_sums_the_intervals(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "hours.csv"
    assert main(["export", str(out), "--store", str(store), "--tz", "Europe/Berlin"]) == 0
    table = pd.read_csv(out)
    assert list(table.columns) == ["time", "site", "door", "entries", "exits", "seconds"]
    assert len(table) == 2 * 7 * 24
    assert table["time"].iloc[0] == "2026-01-05T01:00:00+01:00"  # 00:00 UTC, Berlin time
    assert set(table["seconds"]) == {3600}
    intervals = tmp_path / "intervals.csv"
    assert main(["export", str(intervals), "--store", str(store), "--period", "interval"]) == 0
    raw = pd.read_csv(intervals)
    assert len(raw) == 2 * 7 * 24 * 4
    assert raw["entries"].sum() == table["entries"].sum()


def test_parquet_keeps_types(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "days.parquet"
    assert main(["export", str(out), "--store", str(store), "--period", "day"]) == 0
    parquet = pq.read_table(out)
    schema = {f.name: str(f.type) for f in parquet.schema}
    assert schema["time"].startswith("timestamp[")
    assert "tz=UTC" in schema["time"]
    assert schema["entries"] == "int64"
    assert schema["door"] in {"string", "large_string"}
    frame = parquet.to_pandas()
    assert sorted(set(frame["door"])) == ["Back", "Front door"]
    assert len(frame) == 14


def test_as_series_is_read_back_by_forecast_and_compare(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "site.csv"
    assert main(["export", str(out), "--store", str(store), "--as-series", "entries"]) == 0
    series = read_csv(out)
    assert len(series) == 7 * 24
    door = tmp_path / "back.csv"
    assert (
        main(["export", str(door), "--store", str(store), "--door", "Back", "--as-series", "exits"])
        == 0
    )
    assert read_csv(door).data.sum() < series.data.sum()


def test_refusals(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(tmp_path / "x.xlsx"), "--store", str(store)]) == 1
    assert "export writes .csv or .parquet files, got 'x.xlsx'" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "x.csv"), "--store", str(store), "--site", "Mall"]) == 1
    assert "no interval counts for Mall" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "x.csv"), "--store", str(tmp_path / "none.sqlite")]) == 1
    assert "no local store at" in capsys.readouterr().err
