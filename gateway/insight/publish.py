"""The bridge-side forecast job: forecast a site and its doors from the stored counts, write
the forecast where Grafana reads (InfluxDB or the local store) and publish it over MQTT.

Run by `doorcount forecast publish --site NAME [--every 3600]` next to the bridge, with the
bridge's settings. Each forecast hour is a point stamped with that hour, so the latest run
overwrites older forecasts of the same hours and the dashboard overlays one band on the
actual counts. Alongside, the latest four whole weeks are compared with the four before (the
dashboard's comparison panel). MQTT gets the same as retained JSON:

    {prefix}/{site}/forecast          the site, next hours
    {prefix}/{site}/{door}/forecast   each door
    {prefix}/{site}/comparison        last four weeks against the four before
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from gateway.errors import DoorcountError
from gateway.insight.compare import Comparison, compare
from gateway.insight.forecast import Calendar, Forecast, forecast
from gateway.insight.series import SeriesError
from gateway.insight.sources import bridge_series, doors_of
from gateway.outputs.bridge import schema
from gateway.outputs.mqtt.payloads import slug

if TYPE_CHECKING:
    from gateway.outputs.bridge.points import Point
    from gateway.outputs.bridge.settings import BridgeSettings

log = logging.getLogger(__name__)

COMPARE_DAYS = 28


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
    """Forecast, compare, write, publish; a door with too little history is skipped (and
    said), the site itself must forecast."""
    from zoneinfo import ZoneInfo

    made = int(now if now is not None else time.time())
    tz = ZoneInfo(settings.timezone)
    series = bridge_series(settings, site, None, "entries", tz, store)
    predicted = forecast(series.hourly(), hours, calendar=calendar)
    points = _points(site, None, predicted, made)
    result = Published(site, hours, [], 0)
    result.messages[f"{settings.prefix}/{slug(site)}/forecast"] = _message(
        site, None, predicted, made
    )
    for door in doors_of(settings, site, store):
        try:
            door_series = bridge_series(settings, site, door, "entries", tz, store)
            door_forecast = forecast(door_series.hourly(), hours, calendar=calendar)
        except (SeriesError, DoorcountError) as exc:
            result.skipped[door] = str(exc)
            log.warning("forecast of %s / %s skipped: %s", site, door, exc)
            continue
        points += _points(site, door, door_forecast, made)
        result.doors.append(door)
        topic = f"{settings.prefix}/{slug(site)}/{slug(door)}/forecast"
        result.messages[topic] = _message(site, door, door_forecast, made)
    daily = series.daily()
    if len(daily) >= 2 * 7:
        days = min(COMPARE_DAYS, len(daily) // 2)
        try:
            result.comparison = compare(
                daily.iloc[-2 * days : -days],
                daily.iloc[-days:],
                names=(f"{days} days before", f"last {days} days"),
            )
        except DoorcountError as exc:
            log.warning("comparison of %s skipped: %s", site, exc)
    if result.comparison is not None:
        c = result.comparison
        fields: dict[str, float | int | str] = {
            "change": c.change,
            "ci_low": c.ci_low,
            "ci_high": c.ci_high,
            "p_value": c.p_value,
            "days": c.days_b,
            "days_needed": c.days_needed if c.days_needed is not None else -1,
            "detect": c.detect,
        }
        points.append(schema.comparison_point(site, fields, made))
        result.messages[f"{settings.prefix}/{slug(site)}/comparison"] = {
            "site": site,
            "made": made,
            **c.to_json(),
        }
    _write(settings, store, points)
    result.points = len(points)
    if mqtt:
        _publish(settings, result.messages)
    return result


def _hours(predicted: Forecast) -> list[schema.ForecastHour]:
    return [
        schema.ForecastHour(int(t.timestamp()), r["mean"], r["lower"], r["upper"])
        for t, r in predicted.frame.iterrows()
    ]


def _points(site: str, door: str | None, predicted: Forecast, made: int) -> list[Point]:
    return schema.forecast_points(
        site, door, _hours(predicted), level=predicted.level, made=made, model=predicted.model
    )


def _message(site: str, door: str | None, predicted: Forecast, made: int) -> dict[str, Any]:
    return {
        "site": site,
        "door": door,
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
