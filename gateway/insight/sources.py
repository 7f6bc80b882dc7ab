"""Where the commands' series come from: `--series SPEC`, a CSV path or the bridge's store.

SPEC is either a path to a `time,count` CSV, or `site=NAME[,door=NAME|,zone=NAME]
[,field=entries|exits|visitors|occupancy][,from=YYYY-MM-DD][,to=YYYY-MM-DD]` for the hourly
series the bridge stored (InfluxDB when the bridge settings name one, else its local SQLite
store). `from` is the first local day, `to` the day after the last. Two periods of one site,
two doors, two zones or two sites are then:

    --series "site=Shop,to=2026-02-02" --series "site=Shop,from=2026-02-02"
    --series "site=Shop,door=North" --series "site=Shop,door=South"
    --series "site=Shop,zone=Upstairs" --series "site=Shop,zone=Ground floor"
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.errors import ConfigError
from gateway.insight.series import QUANTITIES, CountSeries, SeriesError, Where, from_values, quote

if TYPE_CHECKING:
    from gateway.outputs.bridge.settings import BridgeSettings

SPEC_KEYS = ("site", "door", "zone", "field", "from", "to")


@dataclass(frozen=True, slots=True)
class StoreSpec:
    site: str
    door: str | None = None
    field: str = "entries"
    first: date | None = None
    until: date | None = None
    zone: str | None = None

    @property
    def label(self) -> str:
        name = Where(self.site, self.door, self.zone, self.field).label
        if self.field != "entries":
            name += f" {self.field}"
        if self.first or self.until:
            name += f" [{self.first or '…'}..{self.until or '…'})"
        return name


def parse_spec(text: str) -> Path | StoreSpec:
    if "site=" not in text:
        return Path(text)
    values: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in SPEC_KEYS or not value.strip():
            raise ConfigError(
                f"--series {text!r}: wanted key=value pairs of {', '.join(SPEC_KEYS)}, got {part!r}"
            )
        values[key] = value.strip()
    if values.get("field", "entries") not in QUANTITIES:
        raise ConfigError(f"--series {text!r}: field is one of {', '.join(QUANTITIES)}")
    if "door" in values and "zone" in values:
        raise ConfigError(f"--series {text!r}: give door= or zone=, not both")
    if values.get("field") == "occupancy" and "door" in values:
        raise ConfigError(f"--series {text!r}: occupancy is kept per site and zone, not per door")
    return StoreSpec(
        values["site"],
        values.get("door"),
        values.get("field", "entries"),
        _day(values.get("from"), text),
        _day(values.get("to"), text),
        values.get("zone"),
    )


def _day(text: str | None, spec: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--series {spec!r}: {text!r} is not YYYY-MM-DD") from None


def add_series_arguments(parser: argparse.ArgumentParser, *, most: int) -> None:
    parser.add_argument(
        "--series",
        action="append",
        default=[],
        metavar="SPEC",
        help=(
            "a `time,count` CSV, or site=NAME[,door=NAME|,zone=NAME][,field=entries|exits|"
            "visitors|occupancy][,from=DAY][,to=DAY] from the bridge's store (InfluxDB or "
            f"local); up to {most}"
        ),
    )
    parser.add_argument(
        "--tz",
        help="time zone for days and hours (default: the CSV's offset, or the bridge's zone)",
    )
    parser.add_argument("--store", type=Path, help="local store file (default: the bridge's)")


def add_place_arguments(parser: argparse.ArgumentParser, *, repeat: bool) -> None:
    """`--site NAME [--door NAME | --zone NAME] [--field F]`: a stored series without a SPEC
    (names may hold commas); `repeat`: --door or --zone twice, for two of one site."""
    many = "append" if repeat else "store"
    parser.add_argument(
        "--door",
        action=many,
        metavar="NAME",
        help="with --site: the door" + (" (twice)" if repeat else ""),
    )
    parser.add_argument(
        "--zone",
        action=many,
        metavar="NAME",
        help="with --site: the zone" + (" (twice)" if repeat else ""),
    )
    parser.add_argument(
        "--field",
        choices=QUANTITIES,
        default="entries",
        help="with --site: what per hour (default entries; visitors: visitor entries; "
        "occupancy: mean people inside, site or zone)",
    )


def place_specs(args: argparse.Namespace) -> list[StoreSpec]:
    """The stored series `--site` with `--door`/`--zone` name (none without --site)."""
    doors = _listed(args.door)
    zones = _listed(args.zone)
    if args.site is None:
        if doors or zones or args.field != "entries":
            raise ConfigError("--door, --zone and --field go with --site")
        return []
    if doors and zones:
        raise ConfigError("give --door or --zone, not both")
    if args.field == "occupancy" and doors:
        raise ConfigError("occupancy is kept per site and zone, not per door")
    if doors:
        return [StoreSpec(args.site, door=d, field=args.field) for d in doors]
    if zones:
        return [StoreSpec(args.site, zone=z, field=args.field) for z in zones]
    return [StoreSpec(args.site, field=args.field)]


def _listed(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def load_series(args: argparse.Namespace, spec: str | StoreSpec) -> CountSeries:
    """One series from a SPEC (or a parsed one), in the time zone asked for."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from gateway.insight.series import read_csv

    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    zone: ZoneInfo | None = None
    if args.tz:
        try:
            zone = ZoneInfo(args.tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"unknown time zone {args.tz!r}") from None
    if isinstance(parsed, Path):
        return read_csv(parsed, tz=zone)
    return _from_bridge(args, parsed, zone)


def _from_bridge(args: argparse.Namespace, spec: StoreSpec, zone: Any) -> CountSeries:
    from gateway.outputs.bridge.settings import load_settings

    series = bridge_series(
        load_settings(), spec.site, spec.door, spec.field, zone, args.store, area=spec.zone
    )
    return _between(series, spec)


def bridge_series(
    settings: BridgeSettings,
    site: str,
    door: str | None = None,
    field: str = "entries",
    zone: tzinfo | None = None,
    store: Path | None = None,
    *,
    area: str | None = None,
) -> CountSeries:
    """Hourly series of a site (or one door, or the zone `area`) where the bridge keeps them:
    InfluxDB when the settings name one (and no `store` file is given), else the local store.
    `field` is one of QUANTITIES."""
    from zoneinfo import ZoneInfo

    from gateway.insight.series import from_influxql, from_store

    tz = zone or ZoneInfo(settings.timezone)
    if settings.influx_url is not None and store is None:
        return from_influxql(
            settings.influx_url,
            settings.influx_bucket.split("/")[0],
            site,
            str(tz),
            door,
            field,
            days=3650,
            token=settings.token() if settings.influx_api == "v2" else "",
            timeout=settings.influx_timeout,
            zone=area,
        )
    from gateway.outputs.bridge.store import LocalStore

    path = store or settings.store_path
    if not path.exists():
        raise ConfigError(f"no local store at {path} (run the bridge first, or give a CSV)")
    opened = LocalStore(path)
    try:
        return from_store(opened, site, tz, door, field, zone=area)
    finally:
        opened.close()


def doors_of(settings: BridgeSettings, site: str, store: Path | None = None) -> list[str]:
    """The doors of a site that have interval counts in the bridge's store."""
    from gateway.outputs.bridge import schema

    return _tag_values(settings, site, schema.DOOR_INTERVAL, "door", store)


def zones_of(settings: BridgeSettings, site: str, store: Path | None = None) -> list[str]:
    """The configured zones of a site that have visits intervals in the bridge's store."""
    from gateway.outputs.bridge import schema

    zones = _tag_values(settings, site, schema.VISITS, "zone", store)
    return [z for z in zones if z != schema.SITE_ZONE]


def _tag_values(
    settings: BridgeSettings, site: str, measurement: str, key: str, store: Path | None
) -> list[str]:
    if settings.influx_url is not None and store is None:
        from gateway.insight.series import influxql

        where = f"\"site\" = '{quote(site)}'"
        rows = influxql(
            settings.influx_url,
            settings.influx_bucket.split("/")[0],
            f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "{key}" WHERE {where}',
            settings.token() if settings.influx_api == "v2" else "",
            settings.influx_timeout,
        )
        return sorted(str(v) for _, v in rows[0]["values"]) if rows else []
    from gateway.outputs.bridge.store import LocalStore

    opened = LocalStore(store or settings.store_path)
    try:
        return sorted(
            {
                p.tags[key]
                for p in opened.query(measurement)
                if p.tags.get("site") == site and key in p.tags
            }
        )
    finally:
        opened.close()


def _between(series: CountSeries, spec: StoreSpec) -> CountSeries:
    data = series.data
    days = data.index.date
    keep = [
        (spec.first is None or d >= spec.first) and (spec.until is None or d < spec.until)
        for d in days
    ]
    chosen = data[keep]
    if len(chosen) < 2:
        raise SeriesError(f"{spec.label}: fewer than two hours of counts in that period")
    times: list[datetime] = [t.to_pydatetime() for t in chosen.index]
    return from_values(spec.label, times, [float(v) for v in chosen], series.step)


def parse_days(values: list[str], option: str) -> frozenset[date]:
    out = set()
    for text in values:
        try:
            out.add(date.fromisoformat(text))
        except ValueError:
            raise ConfigError(f"{option} wants YYYY-MM-DD, got {text!r}") from None
    return frozenset(out)
