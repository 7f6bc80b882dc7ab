"""The bridge-side forecast job: forecast a site, its doors and its zones from the stored
counts, write the forecast where Grafana reads (InfluxDB or the local store) and publish it
over MQTT.

Run by `doorcount forecast publish --site NAME [--every 3600]` next to the bridge, with the
bridge's settings. Each forecast hour is a point stamped with that hour, so the latest run
overwrites older forecasts of the same hours and the dashboard overlays one band on the
actual counts. Forecast per hour: entries and visitor entries of the site, each door and each
zone, and the mean occupancy (people inside) of the site and each zone. Alongside, the latest
four whole weeks are compared with the four before (the dashboard's comparison panel). MQTT
gets the same as retained JSON:

    {prefix}/{site}/forecast                     the site's entries, next hours
    {prefix}/{site}/forecast/{quantity}          its visitors, occupancy
    {prefix}/{site}/{door}/forecast[/visitors]   each door
    {prefix}/{site}/zone/{zone}/forecast[/...]   each zone (entries, visitors, occupancy)
    {prefix}/{site}/comparison                   last four weeks against the four before

The site's entries must forecast; anything else that cannot (too little history, counts
from before the visitor split, no zones) is skipped and said.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from gateway.errors import ConfigError, DoorcountError
from gateway.insight.compare import Comparison, compare
from gateway.insight.forecast import Calendar, Forecast, forecast
from gateway.insight.series import CountSeries, Where, from_store
from gateway.insight.sources import bridge_series, doors_of, zones_of
from gateway.outputs.bridge import schema
from gateway.outputs.mqtt.payloads import slug

if TYPE_CHECKING:
    from datetime import tzinfo

    from gateway.outputs.bridge.points import Point
    from gateway.outputs.bridge.settings import BridgeSettings
    from gateway.outputs.bridge.store import LocalStore, StoredPoint

log = logging.getLogger(__name__)

COMPARE_DAYS = 28
SITE_QUANTITIES = ("entries", "visitors", "occupancy")
DOOR_QUANTITIES = ("entries", "visitors")
ZONE_QUANTITIES = ("entries", "visitors", "occupancy")


class PublishError(DoorcountError, ConnectionError):
    """The forecast could not be written or published."""


@dataclass
class Published:
    site: str
    hours: int
    doors: list[str]
    points: int
    skipped: dict[str, str] = field(default_factory=dict)
    comparison: Comparison | None = None
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    zones: list[str] = field(default_factory=list)
    forecasts: list[str] = field(default_factory=list)
    """What was forecast: `Shop entries`, `Shop / North visitors`, `Shop / zone Cafe occupancy`."""


@dataclass(frozen=True)
class _Job:
    settings: BridgeSettings
    tz: tzinfo
    hours: int
    calendar: Calendar | None
    store: Path | None
    made: int

    cache: _Cached | None = None

    def series(self, where: Where) -> CountSeries:
        if self.cache is not None:
            return from_store(
                self.cache, where.site, self.tz, where.door, where.quantity, zone=where.zone
            )
        return bridge_series(
            self.settings,
            where.site,
            where.door,
            where.quantity,
            self.tz,
            self.store,
            area=where.zone,
        )

    def forecast(self, where: Where) -> tuple[CountSeries, Forecast]:
        series = self.series(where)
        return series, forecast(series.hourly(), self.hours, calendar=self.calendar)

    def topic(self, where: Where) -> str:
        base = f"{self.settings.prefix}/{slug(where.site)}"
        if where.door is not None:
            base += f"/{slug(where.door)}"
        elif where.zone is not None:
            base += f"/zone/{slug(where.zone)}"
        return base + "/forecast" + ("" if where.quantity == "entries" else f"/{where.quantity}")


class _Cached:
    """The local store's points, read once per measurement for the run's many series."""

    def __init__(self, store: LocalStore) -> None:
        self._store = store
        self._points: dict[str, list[StoredPoint]] = {}

    def query(self, measurement: str) -> list[StoredPoint]:
        if measurement not in self._points:
            self._points[measurement] = self._store.query(measurement)
        return self._points[measurement]

    def describe(self) -> str:
        return self._store.describe()


def run_once(
    settings: BridgeSettings,
    site: str,
    *,
    hours: int = 48,
    calendar: Calendar | None = None,
    store: Path | None = None,
    mqtt: bool = True,
    now: float | None = None,
) -> Published:
    """Forecast, compare, write, publish; whatever has too little history is skipped (and
    said), the site's entries must forecast."""
    from zoneinfo import ZoneInfo

    from gateway.outputs.bridge.store import LocalStore

    local = store or (settings.store_path if settings.influx_url is None else None)
    if local is not None and not local.exists():
        raise ConfigError(f"no local store at {local} (run the bridge first)")
    opened = LocalStore(local) if local is not None else None
    try:
        job = _Job(
            settings,
            ZoneInfo(settings.timezone),
            hours,
            calendar,
            store,
            int(now if now is not None else time.time()),
            _Cached(opened) if opened is not None else None,
        )
        return _run(job, site, mqtt)
    finally:
        if opened is not None:
            opened.close()


def _run(job: _Job, site: str, mqtt: bool) -> Published:
    settings, store, hours = job.settings, job.store, job.hours
    result = Published(site, hours, [], 0)
    series, predicted = job.forecast(Where(site))
    points = _add(job, result, Where(site), predicted)
    places = [Where(site, quantity=q) for q in SITE_QUANTITIES[1:]]
    for door in doors_of(settings, site, store):
        places += [Where(site, door=door, quantity=q) for q in DOOR_QUANTITIES]
    for zone in zones_of(settings, site, store):
        places += [Where(site, zone=zone, quantity=q) for q in ZONE_QUANTITIES]
    for where in places:
        name = where.label + ("" if where.quantity == "entries" else f" {where.quantity}")
        try:
            _, made = job.forecast(where)
        except DoorcountError as exc:
            result.skipped[name] = str(exc)
            log.warning("forecast of %s skipped: %s", name, exc)
            continue
        points += _add(job, result, where, made)
        if where.quantity == "entries" and where.door is not None:
            result.doors.append(where.door)
        if where.quantity == "entries" and where.zone is not None:
            result.zones.append(where.zone)
    comparison = _compare(series)
    if comparison is not None:
        result.comparison = comparison
        points.append(schema.comparison_point(site, _comparison_fields(comparison), job.made))
        result.messages[f"{settings.prefix}/{slug(site)}/comparison"] = {
            "site": site,
            "made": job.made,
            **comparison.to_json(),
        }
    _write(settings, store, points)
    result.points = len(points)
    if mqtt:
        _publish(settings, result.messages)
    return result


def _add(job: _Job, result: Published, where: Where, predicted: Forecast) -> list[Point]:
    result.forecasts.append(f"{where.label} {where.quantity}")
    result.messages[job.topic(where)] = _message(where, predicted, job.made)
    return schema.forecast_points(
        where.site,
        where.door,
        _hours(predicted),
        level=predicted.level,
        made=job.made,
        model=predicted.model,
        quantity=where.quantity,
        zone=where.zone,
    )


def _compare(series: CountSeries) -> Comparison | None:
    daily = series.daily()
    if len(daily) < 2 * 7:
        return None
    days = min(COMPARE_DAYS, len(daily) // 2)
    try:
        return compare(
            daily.iloc[-2 * days : -days],
            daily.iloc[-days:],
            names=(f"{days} days before", f"last {days} days"),
        )
    except DoorcountError as exc:
        log.warning("comparison of %s skipped: %s", series.name, exc)
        return None


def _comparison_fields(c: Comparison) -> dict[str, float | int | str]:
    return {
        "change": c.change,
        "ci_low": c.ci_low,
        "ci_high": c.ci_high,
        "p_value": c.p_value,
        "days": c.days_b,
        "days_needed": c.days_needed if c.days_needed is not None else -1,
        "detect": c.detect,
    }


def _hours(predicted: Forecast) -> list[schema.ForecastHour]:
    return [
        schema.ForecastHour(int(t.timestamp()), r["mean"], r["lower"], r["upper"])
        for t, r in predicted.frame.iterrows()
    ]


def _message(where: Where, predicted: Forecast, made: int) -> dict[str, Any]:
    return {
        "site": where.site,
        "door": where.door,
        "zone": where.zone,
        "quantity": where.quantity,
        "model": predicted.model,
        "level": predicted.level,
        "made": made,
        "hours": [
            {"t": h.start, "mean": round(h.mean, 3), "lower": h.lower, "upper": h.upper}
            for h in _hours(predicted)
        ],
    }


def _write(settings: BridgeSettings, store: Path | None, points: list[Point]) -> None:
    from gateway.outputs.bridge.sinks import open_sink
    from gateway.outputs.bridge.store import LocalStore

    sink = LocalStore(store) if store is not None else open_sink(settings)
    try:
        sink.write(points)
    finally:
        sink.close()


def _publish(settings: BridgeSettings, messages: dict[str, dict[str, Any]]) -> None:
    """Retained QoS 1 messages, one short connection (paho's publish.multiple)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt import publish

    auth: publish.AuthParameter | None = None
    if settings.mqtt_username is not None:
        auth = {"username": settings.mqtt_username}
        if settings.mqtt_password is not None:
            auth["password"] = settings.mqtt_password.get_secret_value()
    tls: publish.TLSParameter | None = None
    if settings.mqtt_tls:
        # No CA file: the system's trust store (paho's tls_set() without ca_certs).
        tls = {"ca_certs": str(settings.mqtt_ca_file)} if settings.mqtt_ca_file else cast(Any, {})
    batch: publish.MessagesList = [
        (topic, json.dumps(body, separators=(",", ":")), 1, True)
        for topic, body in messages.items()
    ]
    try:
        publish.multiple(
            batch,
            hostname=settings.mqtt_host,
            port=settings.mqtt_port,
            client_id=f"{settings.client_id}-forecast",
            keepalive=settings.mqtt_keepalive,
            auth=auth,
            tls=tls,
            protocol=mqtt.MQTTv311 if settings.mqtt_protocol == "3.1.1" else mqtt.MQTTv5,
        )
    except (OSError, ValueError) as exc:
        raise PublishError(f"MQTT {settings.mqtt_host}:{settings.mqtt_port}: {exc}") from None
