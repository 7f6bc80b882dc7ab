"""Count series: what a CSV or the local store must look like, and the message when it doesn't."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.cli import main
from gateway.insight.series import SeriesError, from_store, read_csv
from gateway.outputs.bridge.points import Point
from gateway.outputs.bridge.schema import interval_points
from gateway.outputs.bridge.store import LocalStore
from gateway.outputs.mqtt.payloads import IntervalPayload
from tests.support.tsdb import Influx1

Writer = Callable[[str, str], Path]


def test_hourly_csv_with_offsets(write_csv: Writer) -> None:
    path = write_csv(
        "a.csv",
        "time,count\n2026-01-05T09:00+01:00,3\n2026-01-05T10:00+01:00,4\n2026-01-05T11:00+01:00,0\n",
    )
    series = read_csv(path)
    assert series.name == "a"
    assert series.step == timedelta(hours=1)
    assert list(series.data) == [3.0, 4.0, 0.0]
    assert series.data.index[0].hour == 9  # local time of the offset, not UTC


def test_z_times_and_fractional_values(write_csv: Writer) -> None:
    path = write_csv("k.csv", "time,count\n2026-01-05T09:00Z,0.25\n2026-01-05T09:15Z,1.5\n")
    series = read_csv(path)
    assert series.step == timedelta(minutes=15)
    assert series.data.sum() == 1.75


def test_quarter_hours_sum_to_hours_and_whole_days_only(write_csv: Writer) -> None:
    start = datetime(2026, 1, 5, 12)  # noqa: DTZ001 - wall-clock times without an offset
    rows = [f"{(start + timedelta(minutes=15 * n)).isoformat()},1" for n in range(4 * 60)]
    series = read_csv(write_csv("q.csv", "time,count\n" + "\n".join(rows) + "\n"))
    hourly = series.hourly()
    assert len(hourly) == 60
    assert set(hourly) == {4.0}
    daily = series.daily()  # 12:00 on day 1 to 00:00 on day 4: days 2 and 3 are whole
    assert list(daily.index.day) == [6, 7]
    assert list(daily) == [96.0, 96.0]


def test_a_dst_day_has_23_hours_and_is_whole(write_csv: Writer) -> None:
    zone = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 3, 28, tzinfo=zone).astimezone(UTC)
    rows = [f"{(start + timedelta(hours=n)).isoformat()},1" for n in range(24 * 3)]
    series = read_csv(write_csv("dst.csv", "time,count\n" + "\n".join(rows) + "\n"), tz=zone)
    daily = series.daily()
    assert dict(zip(daily.index.day, daily, strict=True))[29] == 23.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("when,count\n2026-01-05T09:00,1\n", "line 1: the header must start `time,count`"),
        ("time,count\n2026-01-05T09:00,1\n", "has 1 interval(s)"),
        (
            "time,count\n2026-01-05T09:00,1\n2026-01-05T10:00,2\n2026-01-05T13:00,2\n",
            "line 4: gap of 3:00:00 after 2026-01-05T10:00:00",
        ),
        (
            "time,count\n2026-01-05T09:00,1\n2026-01-05T10:00,2\n2026-01-05T10:00,2\n",
            "line 4: duplicate time 2026-01-05T10:00:00",
        ),
        (
            "time,count\n2026-01-05T09:00,1\n2026-01-05T11:00,2\n2026-01-05T10:00,2\n",
            "line 4: time goes backwards after 2026-01-05T11:00:00",
        ),
        (
            "time,count\n2026-01-05T09:00,1\n2026-01-05T10:00,many\n",
            "line 3: count 'many' is not a number",
        ),
        ("time,count\n2026-01-05T09:00,1\n2026-01-05T10:00,\n", "line 3: count is empty"),
        (
            "time,count\n2026-01-05T09:00,1\n2026-01-05T10:00,-2\n",
            "line 3: count '-2' is not a finite",
        ),
        (
            "time,count\n2026-01-05T09:00,1\n2026-01-05T10:00,nan\n",
            "line 3: count 'nan' is not a finite",
        ),
        (
            "time,count\n2026-01-05T09:00,1\n5 Jan 2026 10:00,2\n",
            "line 3: time '5 Jan 2026 10:00' is not ISO",
        ),
        (
            "time,count\n2026-01-05T09:00,1\n2026-01-05T10:00Z,2\n",
            "line 3: mixes times with and without",
        ),
        (
            "time,count\n2026-01-05T09:00,1\n2026-01-05T10:00,2\n2026-01-05T11:30,2\n",
            "line 4: irregular step of 1:30:00",
        ),
        ("time,count\n2026-01-05T09:00,1\n2026-01-05T10:00\n", "line 3: wanted `time,count`"),
    ],
)
def test_bad_csv_is_refused_with_the_line(write_csv: Writer, text: str, message: str) -> None:
    path = write_csv("bad.csv", text)
    with pytest.raises(SeriesError) as caught:
        read_csv(path)
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(path))


def test_not_utf8_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(b"time,count\n2026-01-05T09:00,1\xe9\n")
    with pytest.raises(SeriesError, match="is not UTF-8"):
        read_csv(path)
    with pytest.raises(SeriesError, match="cannot read"):
        read_csv(tmp_path / "nowhere.csv")


@pytest.mark.parametrize("command", ["compare", "forecast"])
def test_cli_prints_one_line_not_a_traceback(
    command: str, write_csv: Writer, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write_csv("bad.csv", "time,count\n2026-01-05T09:00,1\n2026-01-05T09:00,1\n")
    argv = [command, "--series", str(bad)] + (
        ["--series", str(bad)] if command == "compare" else []
    )
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err == f"doorcount {command}: {bad} line 3: duplicate time 2026-01-05T09:00:00\n"


# -- the local store --------------------------------------------------------------------------


def _fill(
    store: LocalStore,
    start: datetime,
    minutes: int,
    doors: tuple[str, ...],
    skip: int = -1,
    role: str = "entrance",
) -> None:
    points: list[Point] = []
    base = int(start.timestamp())
    for minute in range(minutes):
        if minute == skip:
            continue
        for door in doors:
            payload = IntervalPayload(
                site="Shop",
                door=door,
                start=base + 60 * minute,
                seconds=60,
                entries=1,
                exits=0,
                revision=0,
                role=role,
            )
            points += interval_points(payload, ZoneInfo("UTC"))
    store.write(points)


def test_store_hours_of_a_door_and_of_the_site(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "s.sqlite")
    # 08:30 .. 11:30: the half hours at both ends are dropped.
    _fill(store, datetime(2026, 1, 5, 8, 30, tzinfo=UTC), 180, ("North", "South"))
    door = from_store(store, "Shop", UTC, door="North")
    assert list(door.data) == [60.0, 60.0]
    assert door.data.index[0].hour == 9
    site = from_store(store, "Shop", UTC)
    assert list(site.data) == [120.0, 120.0]
    store.close()


def test_site_hours_leave_out_perimeter_beams(tmp_path: Path) -> None:
    """A perimeter beam counts passers-by: not the site's entries (docs/sites.md)."""
    store = LocalStore(tmp_path / "s.sqlite")
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    _fill(store, start, 120, ("North",))
    _fill(store, start, 120, ("Frontage",), role="perimeter")
    assert list(from_store(store, "Shop", UTC).data) == [60.0, 60.0]
    assert list(from_store(store, "Shop", UTC, door="Frontage").data) == [60.0, 60.0]
    store.close()


def test_store_hour_with_a_missing_minute_is_a_gap(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "s.sqlite")
    _fill(store, datetime(2026, 1, 5, 8, tzinfo=UTC), 240, ("North",), skip=100)
    with pytest.raises(
        SeriesError, match=r"the hour 2026-01-05T09:00:00\+00:00 has 3540 of 3600 s"
    ):
        from_store(store, "Shop", UTC, door="North")
    with pytest.raises(SeriesError, match="no interval counts for Elsewhere"):
        from_store(store, "Elsewhere", UTC)
    store.close()


def test_influxdb_hours_equal_the_store_hours(tmp_path: Path, influxdb1: Influx1) -> None:
    """The same intervals in InfluxDB 1.6.7 (InfluxQL, as Grafana reads) and in the store."""
    from gateway.insight.series import from_influxql
    from gateway.outputs.bridge.points import encode

    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = now - timedelta(hours=5, minutes=30)
    store = LocalStore(tmp_path / "s.sqlite")
    _fill(store, start, 300, ("North", "South"))
    influxdb1.create_database("doorcount")
    points = store.query("door_interval")
    lines = encode(
        [Point.make(p.measurement, dict(p.tags), dict(p.fields), p.time_ns) for p in points]
    )
    influxdb1.write("doorcount", lines)
    local = from_store(store, "Shop", ZoneInfo("Europe/Berlin"))
    remote = from_influxql(influxdb1.url, "doorcount", "Shop", "Europe/Berlin", days=2)
    assert list(remote.data) == list(local.data) == [120.0] * 4
    assert list(remote.data.index) == list(local.data.index)
    north = from_influxql(influxdb1.url, "doorcount", "Shop", "UTC", door="North", days=2)
    assert list(north.data) == [60.0] * 4
    with pytest.raises(SeriesError, match="no interval counts for Nowhere"):
        from_influxql(influxdb1.url, "doorcount", "Nowhere", "UTC", days=2)
    store.close()


def _fill_visits(
    store: LocalStore, start: datetime, minutes: int, zone: str | None, inside: float
) -> None:
    """Visits intervals of the site (zone None) or a zone: `inside` people all along, one
    visitor and one staff entry a minute."""
    from gateway.outputs.bridge.schema import visits_point
    from gateway.outputs.mqtt.payloads import VisitsPayload

    base = int(start.timestamp())
    store.write(
        [
            visits_point(
                VisitsPayload(
                    site="Shop",
                    zone=zone,
                    start=base + 60 * minute,
                    seconds=60,
                    occupancy_seconds=inside * 60,
                    entries=2,
                    exits=2,
                    corrected=0,
                    inside_end=round(inside),
                    capture_rate=None,
                    visitors_in=1,
                    staff_in=1,
                )
            )
            for minute in range(minutes)
        ]
    )


def _split(store: LocalStore, start: datetime, minutes: int, door: str) -> None:
    """A door's intervals with the visitor split: 3 entries a minute, 2 of them visitors."""
    base = int(start.timestamp())
    points: list[Point] = []
    for minute in range(minutes):
        payload = IntervalPayload(
            site="Shop",
            door=door,
            start=base + 60 * minute,
            seconds=60,
            entries=3,
            exits=3,
            revision=0,
            visitors_in=2,
            staff_in=1,
        )
        points += interval_points(payload, ZoneInfo("UTC"))
    store.write(points)


def test_store_visitors_occupancy_and_zones(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "s.sqlite")
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    _split(store, start, 120, "North")
    _fill_visits(store, start, 120, None, 12.5)
    _fill_visits(store, start, 120, "Cafe", 4.0)
    assert list(from_store(store, "Shop", UTC, field="visitors").data) == [120.0, 120.0]
    assert list(from_store(store, "Shop", UTC, door="North", field="visitors").data) == [
        120.0,
        120.0,
    ]
    # Occupancy: the hour's mean people inside (person-seconds / 3600), site and zone.
    site = from_store(store, "Shop", UTC, field="occupancy")
    assert list(site.data) == [12.5, 12.5]
    assert site.name == "Shop occupancy"
    cafe = from_store(store, "Shop", UTC, zone="Cafe", field="occupancy")
    assert list(cafe.data) == [4.0, 4.0]
    assert list(from_store(store, "Shop", UTC, zone="Cafe").data) == [120.0, 120.0]
    assert list(from_store(store, "Shop", UTC, zone="Cafe", field="visitors").data) == [60.0] * 2
    with pytest.raises(SeriesError, match="occupancy is kept per site and zone, not per door"):
        from_store(store, "Shop", UTC, door="North", field="occupancy")
    with pytest.raises(SeriesError, match="give a door or a zone, not both"):
        from_store(store, "Shop", UTC, door="North", zone="Cafe")
    with pytest.raises(
        SeriesError, match=r"no visits .* Shop / zone Attic .*\(zones with visits: Cafe\)"
    ):
        from_store(store, "Shop", UTC, zone="Attic")
    with pytest.raises(SeriesError, match="unknown quantity 'people'"):
        from_store(store, "Shop", UTC, field="people")
    store.close()


def test_visitors_of_counts_from_before_the_split_are_refused(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "s.sqlite")
    _fill(store, datetime(2026, 1, 5, 9, tzinfo=UTC), 120, ("North",))
    with pytest.raises(SeriesError, match=r"has no 'visitors_in' \(counted before the visitor"):
        from_store(store, "Shop", UTC, field="visitors")
    store.close()


def test_influxdb_zones_and_occupancy_equal_the_store(tmp_path: Path, influxdb1: Influx1) -> None:
    from gateway.insight.series import from_influxql
    from gateway.outputs.bridge.points import encode

    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = now - timedelta(hours=3)
    store = LocalStore(tmp_path / "s.sqlite")
    _split(store, start, 180, "North")
    _fill(store, start, 180, ("Old",))  # a door from before the split
    _fill_visits(store, start, 180, None, 7.25)
    _fill_visits(store, start, 180, "Cafe", 2.0)
    influxdb1.create_database("doorcount")
    points = store.query("door_interval") + store.query("visits")
    influxdb1.write(
        "doorcount",
        encode(
            [Point.make(p.measurement, dict(p.tags), dict(p.fields), p.time_ns) for p in points]
        ),
    )
    for door, zone, field in (
        (None, None, "occupancy"),
        (None, "Cafe", "occupancy"),
        (None, "Cafe", "visitors"),
        ("North", None, "visitors"),
    ):
        local = from_store(store, "Shop", UTC, door, field, zone=zone)
        remote = from_influxql(
            influxdb1.url, "doorcount", "Shop", "UTC", door, field, days=1, zone=zone
        )
        assert list(remote.data) == list(local.data), (door, zone, field)
        assert list(remote.data.index) == list(local.data.index)
    assert (
        list(
            from_influxql(influxdb1.url, "doorcount", "Shop", "UTC", days=1, field="occupancy").data
        )
        == [7.25] * 3
    )
    # The site's visitors: the door from before the split has none, refused (InfluxQL's
    # sum would take the missing values for zeros).
    with pytest.raises(SeriesError, match=r"has no 'visitors_in' \(counted before the visitor"):
        from_influxql(influxdb1.url, "doorcount", "Shop", "UTC", days=1, field="visitors")
    with pytest.raises(SeriesError, match=r"no visits intervals .* for Shop / zone Attic"):
        from_influxql(influxdb1.url, "doorcount", "Shop", "UTC", days=1, zone="Attic")
    store.close()
