"""Counts for BI tools (Power BI, Excel, pandas): a tidy table as CSV or Parquet.

One row per site, door and period (the stored interval, an hour or a day, local time) with
entries and exits; times carry their UTC offset (ISO 8601 in CSV, a time-zone-aware timestamp
in Parquet). `as_series` writes the `time,count` form that `doorcount compare` and
`doorcount forecast` read back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from gateway.errors import DoorcountError
from gateway.outputs.bridge import schema

if TYPE_CHECKING:
    import pandas as pd

    from gateway.outputs.bridge.store import LocalStore

PERIODS = ("interval", "hour", "day")
FORMATS = (".csv", ".parquet")


class ExportError(DoorcountError, ValueError):
    """Nothing to export, or an output the exporter cannot write."""


def counts_table(
    store: LocalStore,
    tz: ZoneInfo,
    *,
    site: str | None = None,
    door: str | None = None,
    period: str = "hour",
) -> pd.DataFrame:
    """Entries and exits per site, door and period, oldest first."""
    import pandas as pd

    if period not in PERIODS:
        raise ExportError(f"the period is one of {', '.join(PERIODS)}, got {period!r}")
    points = [
        p
        for p in store.query(schema.DOOR_INTERVAL)
        if (site is None or p.tags.get("site") == site)
        and (door is None or p.tags.get("door") == door)
    ]
    if not points:
        what = " / ".join(x for x in (site, door) if x) or "any site"
        raise ExportError(f"no interval counts for {what} in {store.describe()}")
    frame = pd.DataFrame(
        {
            "time": pd.DatetimeIndex([datetime.fromtimestamp(p.t, UTC) for p in points]).tz_convert(
                tz
            ),
            "site": [p.tags.get("site", "") for p in points],
            "door": [p.tags.get("door", "") for p in points],
            "entries": [int(p.fields.get("entries", 0) or 0) for p in points],
            "exits": [int(p.fields.get("exits", 0) or 0) for p in points],
            "seconds": [int(p.fields.get("seconds", 60) or 60) for p in points],
        }
    )
    if period != "interval":
        frame["time"] = (
            frame["time"].dt.floor("h")
            if period == "hour"
            else frame["time"].dt.floor("D", ambiguous=False, nonexistent="shift_forward")
        )
        frame = frame.groupby(["time", "site", "door"], as_index=False, sort=True)[
            ["entries", "exits", "seconds"]
        ].sum()
    return frame.sort_values(["time", "site", "door"], ignore_index=True)


def as_series(table: pd.DataFrame, field: str = "entries") -> pd.DataFrame:
    """`time,count`: the field summed over the table's doors per period."""
    if field not in ("entries", "exits"):
        raise ExportError(f"a series is of entries or exits, got {field!r}")
    summed = table.groupby("time", sort=True)[field].sum()
    return summed.rename("count").reset_index()


def write_table(table: pd.DataFrame, path: Path) -> Path:
    """CSV (ISO 8601 times with offset) or Parquet (pyarrow), by the file's suffix."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ExportError(f"export writes .csv or .parquet files, got {path.name!r}")
    if suffix == ".parquet":
        table.to_parquet(path, engine="pyarrow", index=False)
        return path
    out = table.copy()
    out["time"] = out["time"].map(lambda t: t.isoformat())
    out.to_csv(path, index=False)
    return path
