"""Count series from anywhere: a `time,count` CSV, the bridge's local store, or InfluxDB.

Every loader returns a `CountSeries`: one value per regular interval, sorted, no gaps, no
duplicates. Whatever breaks that promise is refused with a `SeriesError` that names the file
and line, never repaired silently: a gap filled with zeros, or a duplicate summed, would be a
wrong figure that looks right. A closed hour is a row with count 0; a missing row is a gap.

Values may be any non-negative numbers (counts, or a KPI such as visitors per open hour), so
the comparison and forecast code takes visitor KPIs as they come (issue 15).
"""

from __future__ import annotations

import csv
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gateway.errors import DoorcountError

if TYPE_CHECKING:
    import pandas as pd

    from gateway.outputs.bridge.store import StoredPoint

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


class SeriesError(DoorcountError, ValueError):
    """A count series is malformed or too short; names the source and line when known."""

    def __init__(self, message: str, source: str = "", line: int | None = None) -> None:
        self.line = line
        where = source + (f" line {line}" if line is not None else "")
        super().__init__(f"{where}: {message}" if where else message)


@dataclass(frozen=True)
class CountSeries:
    """Values at a regular step; `data` is a float pandas Series on a DatetimeIndex in local
    time: tz-aware (regular in absolute time, DST days are 23 or 25 hours) when the source had
    offsets or a time zone, naive wall-clock time otherwise."""

    name: str
    data: pd.Series
    step: timedelta

    def __len__(self) -> int:
        return len(self.data)

    @property
    def start(self) -> datetime:
        return self.data.index[0].to_pydatetime()  # type: ignore[no-any-return]

    @property
    def end(self) -> datetime:
        """End of the last interval."""
        return self.data.index[-1].to_pydatetime() + self.step  # type: ignore[no-any-return]

    def hourly(self) -> pd.Series:
        """Sums per hour; the step must divide an hour (or be one)."""
        if self.step > HOUR or HOUR % self.step:
            raise SeriesError(
                f"needs hourly or finer intervals, the step is {self.step}", self.name
            )
        if self.step == HOUR:
            return self.data
        return self._complete(self.data.resample("h").sum(min_count=1), HOUR)

    def daily(self) -> pd.Series:
        """Sums per whole local day; a day the series covers only in part is left out."""
        if self.step > DAY or DAY % self.step:
            raise SeriesError(f"needs daily or finer intervals, the step is {self.step}", self.name)
        if self.step == DAY:
            return self.data
        return self._complete(self.data.resample("D").sum(min_count=1), DAY)

    def _complete(self, sums: pd.Series, size: timedelta) -> pd.Series:
        """Keep the periods the series covers fully (a local day may be 23 or 25 hours)."""
        import pandas as pd

        counts = self.data.resample(sums.index.freq).count()
        starts = sums.index
        ends = starts + (pd.DateOffset(days=1) if size == DAY else pd.Timedelta(size))
        expected = (ends - starts) / pd.Timedelta(self.step)
        return sums[counts.to_numpy() == expected.to_numpy()]


def from_values(
    name: str, times: list[datetime], values: list[float], step: timedelta | None = None
) -> CountSeries:
    """A checked series from Python lists (used by the store and InfluxDB loaders)."""
    rows = [(n + 1, t, v) for n, (t, v) in enumerate(zip(times, values, strict=True))]
    zone = times[0].tzinfo if times else None
    return _build(name, rows, step, zone=zone, numbered=False)


def read_csv(path: str | Path, name: str | None = None, tz: tzinfo | None = None) -> CountSeries:
    """`time,count` rows with ISO 8601 times (`2026-01-05T09:00`, with or without an offset),
    one row per interval, oldest first. Times with offsets are shown in `tz` (default: the first
    row's offset); times without are local wall-clock time, taken as written."""
    path = Path(path)
    source = str(path)
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise SeriesError(f"cannot read: {exc.strerror or exc}", source) from None
    rows: list[tuple[int, datetime, float]] = []
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None:
                raise SeriesError("the file is empty (wanted a `time,count` header)", source)
            columns = [c.strip().lower() for c in header]
            if columns[:2] != ["time", "count"]:
                raise SeriesError(
                    f"the header must start `time,count`, got {','.join(header)[:60]!r}", source, 1
                )
            for row in reader:
                line = reader.line_num
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) < 2:
                    raise SeriesError(
                        f"wanted `time,count`, got {','.join(row)[:60]!r}", source, line
                    )
                rows.append((line, _time(row[0], source, line), _count(row[1], source, line)))
        except UnicodeDecodeError:
            raise SeriesError("is not UTF-8 text", source) from None
        except csv.Error as exc:
            raise SeriesError(f"malformed CSV: {exc}", source, reader.line_num) from None
    return _build(name or path.stem, rows, None, source=source, zone=tz)


def _time(text: str, source: str, line: int) -> datetime:
    raw = text.strip()
    try:
        return datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
    except ValueError:
        raise SeriesError(f"time {raw[:40]!r} is not ISO 8601", source, line) from None


def _count(text: str, source: str, line: int) -> float:
    raw = text.strip()
    if not raw:
        raise SeriesError(
            "count is empty (a missing interval: leave no row out; write 0 for a closed hour)",
            source,
            line,
        )
    try:
        value = float(raw)
    except ValueError:
        raise SeriesError(f"count {raw[:40]!r} is not a number", source, line) from None
    if not math.isfinite(value) or value < 0:
        raise SeriesError(f"count {raw[:40]!r} is not a finite number >= 0", source, line)
    return value


def _build(
    name: str,
    rows: list[tuple[int, datetime, float]],
    step: timedelta | None,
    source: str = "",
    *,
    zone: tzinfo | None = None,
    numbered: bool = True,
) -> CountSeries:
    """Check the promise (sorted, unique, regular) in absolute time; index in local time."""
    import pandas as pd

    source = source or name

    def at(line: int) -> int | None:
        return line if numbered else None

    if len(rows) < 2:
        raise SeriesError(f"has {len(rows)} interval(s); a series needs at least two", source)
    aware = rows[0][1].tzinfo is not None
    for line, t, _ in rows:
        if (t.tzinfo is not None) != aware:
            raise SeriesError(
                "mixes times with and without a UTC offset; give every time an offset or none",
                source,
                at(line),
            )
    absolute = [t.astimezone(UTC) if aware else t for _, t, _ in rows]
    for n in range(1, len(rows)):
        diff, line, before = absolute[n] - absolute[n - 1], rows[n][0], rows[n - 1][1]
        if diff == timedelta(0):
            raise SeriesError(f"duplicate time {before.isoformat()}", source, at(line))
        if diff < timedelta(0):
            raise SeriesError(
                f"time goes backwards after {before.isoformat()}: rows must be oldest first",
                source,
                at(line),
            )
    if step is None:
        step = min(absolute[n] - absolute[n - 1] for n in range(1, len(rows)))
    for n in range(1, len(rows)):
        diff, line, before = absolute[n] - absolute[n - 1], rows[n][0], rows[n - 1][1]
        if diff != step:
            kind = "gap" if diff > step and diff % step == timedelta(0) else "irregular step"
            raise SeriesError(
                f"{kind} of {diff} after {before.isoformat()} (the series steps by {step}; "
                "one row per interval, 0 for a closed one)",
                source,
                at(line),
            )
    if aware:
        index = pd.DatetimeIndex(absolute).tz_convert(zone or rows[0][1].tzinfo)
    else:
        index = pd.DatetimeIndex(absolute)
    data = pd.Series([v for _, _, v in rows], index=index, dtype="float64", name=name)
    return CountSeries(name, data.asfreq(pd.Timedelta(step)), step)


# -- the bridge's stores -----------------------------------------------------------------------


class PointSource(Protocol):
    """What the loaders read of the local store (`LocalStore`, or a cache of it)."""

    def query(self, measurement: str) -> list[StoredPoint]: ...

    def describe(self) -> str: ...


QUANTITIES = ("entries", "exits", "visitors", "occupancy")
"""What a stored series can hold per hour: entries, exits, visitor entries (the split of the
visitor KPIs: not staff, not out of hours), and occupancy: the mean number of people inside
over the hour (person-seconds / 3600, from the `visits` intervals of the site or a zone)."""
_FIELD = {
    "entries": "entries",
    "exits": "exits",
    "visitors": "visitors_in",
    "occupancy": "occupancy_seconds",
}


@dataclass(frozen=True, slots=True)
class Where:
    """Which stored series: a site, one door or one zone of it, and the quantity per hour."""

    site: str
    door: str | None = None
    zone: str | None = None
    quantity: str = "entries"

    def __post_init__(self) -> None:
        if self.quantity not in QUANTITIES:
            raise SeriesError(
                f"unknown quantity {self.quantity!r}; choose one of {', '.join(QUANTITIES)}"
            )
        if self.door is not None and self.zone is not None:
            raise SeriesError(f"{self.site}: give a door or a zone, not both")
        if self.quantity == "occupancy" and self.door is not None:
            raise SeriesError(
                f"{self.site} / {self.door}: occupancy is kept per site and zone, not per door "
                "(a door has no inside)"
            )

    @property
    def label(self) -> str:
        if self.door is not None:
            return f"{self.site} / {self.door}"
        if self.zone is not None:
            return f"{self.site} / zone {self.zone}"
        return self.site

    @property
    def from_visits(self) -> bool:
        """Zones and occupancy come from the `visits` intervals; doors and the site's
        movements from the doors' interval counts."""
        return self.zone is not None or self.quantity == "occupancy"

    @property
    def field(self) -> str:
        return _FIELD[self.quantity]

    @property
    def scale(self) -> float:
        return 1 / 3600 if self.quantity == "occupancy" else 1.0


def from_store(
    store: PointSource,
    site: str,
    tz: tzinfo,
    door: str | None = None,
    field: str = "entries",
    zone: str | None = None,
) -> CountSeries:
    """Hourly sums of a door's, a zone's or the whole site's interval counts from the local
    store; `field` is one of QUANTITIES (occupancy: the hour's mean people inside).

    The gateway publishes every interval of every configured door (and zone), zeros
    included, so an hour is complete when each door that reported in it has a full hour of
    intervals (a door added later joins the site's sum from its first hour). Incomplete hours
    at either end are dropped; an incomplete or missing hour inside the span is a gap (the
    gateway was down): refused, as in a CSV."""
    from gateway.outputs.bridge import schema

    where = Where(site, door, zone, field)
    if where.from_visits:
        area = zone if zone is not None else schema.SITE_ZONE
        measurement = schema.VISITS
        points = [
            p
            for p in store.query(measurement)
            if p.tags.get("site") == site and p.tags.get("zone") == area
        ]
        key = "zone"
    else:
        measurement = schema.DOOR_INTERVAL
        points = [
            p
            for p in store.query(measurement)
            if p.tags.get("site") == site
            and (p.tags.get("door") == door if door is not None else not _perimeter(p.fields))
        ]
        key = "door"
    if not points:
        raise SeriesError(
            f"no {_kind(where)} for {where.label} in {store.describe()}"
            + _known_zones(store, where)
        )
    cells: list[tuple[datetime, str, float, float]] = []
    for p in points:
        start = datetime.fromtimestamp(p.t, tz)
        value = p.fields.get(where.field)
        seconds = p.fields.get("seconds", 60)
        if not isinstance(value, int | float) or not isinstance(seconds, int | float):
            raise SeriesError(
                f"interval of {where.label} at {start.isoformat()} has no {where.field!r}"
                + (" (counted before the visitor split)" if where.quantity == "visitors" else "")
            )
        hour = start.replace(minute=0, second=0, microsecond=0)
        cells.append((hour, p.tags.get(key, ""), float(value), float(seconds)))
    return _complete_hours(f"{where.label} {field}", cells, store.describe(), where.scale)


def _kind(where: Where) -> str:
    return "visits intervals (occupancy)" if where.from_visits else "interval counts"


def _known_zones(store: PointSource, where: Where) -> str:
    """Name the zones the store has when the one asked for is not among them."""
    from gateway.outputs.bridge import schema

    if where.zone is None:
        return ""
    zones = sorted(
        {
            p.tags["zone"]
            for p in store.query(schema.VISITS)
            if p.tags.get("site") == where.site
            and p.tags.get("zone", schema.SITE_ZONE) != schema.SITE_ZONE
        }
    )
    return f" (zones with visits: {', '.join(zones)})" if zones else " (no zone has visits)"


def from_influxql(
    url: str,
    database: str,
    site: str,
    tz: str,
    door: str | None = None,
    field: str = "entries",
    days: int = 56,
    token: str = "",
    timeout: float = 30.0,
    zone: str | None = None,
) -> CountSeries:
    """Hourly sums from InfluxDB over its InfluxQL `/query` endpoint (1.x natively, 2.x and 3.x
    through the DBRP mapping: the path the Grafana dashboards use), the last `days` days.

    influxdb-client speaks only Flux, which InfluxDB 1.x lacks; InfluxQL reads every version."""
    from zoneinfo import ZoneInfo

    from gateway.outputs.bridge import schema

    where_ = Where(site, door, zone, field)
    where = f"\"site\" = '{quote(site)}'"
    if where_.from_visits:
        area = zone if zone is not None else schema.SITE_ZONE
        where += f" AND \"zone\" = '{quote(area)}'"
        measurement, key = schema.VISITS, "zone"
    else:
        if door is not None:
            where += f" AND \"door\" = '{quote(door)}'"
        measurement, key = schema.DOOR_INTERVAL, "door"
    skip = (
        set()
        if door is not None or where_.from_visits
        else _perimeter_doors(url, database, where, token, timeout)
    )
    text = (
        f'SELECT sum("{quote(where_.field)}") AS "v", sum("seconds") AS "s", '  # noqa: S608
        f'count("{quote(where_.field)}") AS "n", count("seconds") AS "c" '
        f'FROM "{measurement}" WHERE {where} AND time >= now() - {int(days)}d '
        f"GROUP BY time(1h), \"{key}\" fill(none) tz('{quote(tz)}')"
    )
    data = influxql(url, database, text, token, timeout)
    if not data:
        raise SeriesError(f"no {_kind(where_)} for {where_.label} in the last {days} days", url)
    data = [series for series in data if str(series["tags"][key]) not in skip]
    zone_info = ZoneInfo(tz)
    cells: list[tuple[datetime, str, float, float]] = []
    for series in data:
        for t, v, s, n, c in series["values"]:
            start = datetime.fromtimestamp(int(t), zone_info)
            if (n or 0) < (c or 0):  # sum() would take the missing values for zeros
                raise SeriesError(
                    f"an interval of {where_.label} in the hour {start.isoformat()} has no "
                    f"{where_.field!r}"
                    + (" (counted before the visitor split)" if field == "visitors" else ""),
                    url,
                )
            cells.append((start, str(series["tags"][key]), float(v or 0), float(s or 0)))
    return _complete_hours(f"{where_.label} {field}", cells, url, where_.scale)


def influxql(url: str, database: str, text: str, token: str, timeout: float) -> list[Any]:
    params = urllib.parse.urlencode({"db": database, "q": text, "epoch": "s"})
    request = urllib.request.Request(f"{url.rstrip('/')}/query?{params}")  # noqa: S310
    if token:
        request.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body: Any = json.loads(response.read())
    except (OSError, ValueError) as exc:
        raise SeriesError(f"InfluxDB query failed: {exc}", url) from None
    results = body.get("results") or [{}]
    if "error" in results[0]:
        raise SeriesError(f"InfluxDB: {results[0]['error']}", url)
    return list(results[0].get("series") or [])


def _complete_hours(
    name: str, cells: list[tuple[datetime, str, float, float]], source: str, scale: float = 1.0
) -> CountSeries:
    """Per hour: the sum over doors (times `scale`), complete when every door that reported in
    it covered all 3600 s. Incomplete hours at the ends are dropped; one inside is refused (a
    partial gap)."""
    values: dict[datetime, float] = {}
    seconds: dict[tuple[datetime, str], float] = {}
    for hour, door, value, covered in cells:
        values[hour] = values.get(hour, 0.0) + value
        seconds[hour, door] = seconds.get((hour, door), 0.0) + covered
    shortest: dict[datetime, float] = {}
    for (hour, _), covered in seconds.items():
        shortest[hour] = min(shortest.get(hour, covered), covered)
    rows = sorted(values)
    while rows and shortest[rows[0]] < 3600:
        rows = rows[1:]
    while rows and shortest[rows[-1]] < 3600:
        rows = rows[:-1]
    for hour in rows:
        if shortest[hour] < 3600:
            raise SeriesError(
                f"{name}: the hour {hour.isoformat()} has {shortest[hour]:.0f} of 3600 s of "
                "intervals at some door (the gateway was down): a gap",
                source,
            )
    if len(rows) < 2:
        raise SeriesError(f"{name}: fewer than two complete hours", source)
    return from_values(name, rows, [values[h] * scale for h in rows], HOUR)


def quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"')


def _perimeter(fields: Mapping[str, object]) -> bool:
    """A perimeter beam counts passers-by, not the site's entries (docs/sites.md); intervals
    from before door roles existed have no role and count as an entrance's."""
    return fields.get("role") == "perimeter"


def _perimeter_doors(url: str, database: str, where: str, token: str, timeout: float) -> set[str]:
    """The doors of a site whose latest interval says they are perimeter beams."""
    from gateway.outputs.bridge import schema

    text = (
        f'SELECT last("role") AS "role" FROM "{schema.DOOR_INTERVAL}" '  # noqa: S608
        f'WHERE {where} GROUP BY "door"'
    )
    return {
        str(series["tags"]["door"])
        for series in influxql(url, database, text, token, timeout)
        if _perimeter({"role": series["values"][0][1]})
    }
