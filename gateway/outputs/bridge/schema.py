"""The InfluxDB schema: which points each MQTT message becomes (documented in docs/influx.md).

Counts are stamped with their own time (interval start, crossing time, payload `t`), so a
re-delivered or corrected message overwrites the same point instead of adding one. Gauges
without a time of their own (node health, gateway status) are stamped when received.
Booleans are stored as 0/1 integers so InfluxQL can aggregate and alert on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from gateway.outputs.bridge.points import Point, seconds_to_ns
from gateway.outputs.mqtt.payloads import (
    OFFLINE,
    ONLINE,
    SPLIT_FIELDS,
    AudienceSplit,
    CrossingPayload,
    DoorOccupancyPayload,
    IntervalPayload,
    NodeHealthPayload,
    PayloadError,
    QualityPayload,
    SiteOccupancyPayload,
    TopicMatch,
    TransactionsPayload,
    VisitsPayload,
    ZoneOccupancyPayload,
    decode,
    parse_topic,
    slug,
)

DOOR_INTERVAL = "door_interval"
HOUR_OF_WEEK = "hour_of_week"
CROSSING = "crossing"
DOOR_OCCUPANCY = "door_occupancy"
SITE_OCCUPANCY = "site_occupancy"
ZONE_OCCUPANCY = "zone_occupancy"
NODE_HEALTH = "node_health"
GATEWAY_STATUS = "gateway_status"
GATEWAY_QUALITY = "gateway_quality"
SITE_FORECAST = "site_forecast"
DOOR_FORECAST = "door_forecast"
ZONE_FORECAST = "zone_forecast"
SITE_COMPARISON = "site_comparison"
TILL_TRANSACTIONS = "till_transactions"
VISITS = "visits"

SITE_ZONE = "(site)"
"""Zone tag of a till that serves the whole site, and of the site's own occupancy-seconds
(tags cannot be empty)."""

WEEKDAYS = ("1-Mon", "2-Tue", "3-Wed", "4-Thu", "5-Fri", "6-Sat", "7-Sun")


@dataclass(frozen=True, slots=True)
class IntervalKey:
    """An interval's identity: a door's counts, or (`series` "till") a till's transactions."""

    site: str
    door: str
    start: int
    series: str = "door"


@dataclass(frozen=True, slots=True)
class Decoded:
    """A valid message's points; `interval`/`revision` let the bridge drop stale revisions."""

    points: tuple[Point, ...]
    interval: IntervalKey | None = None
    revision: int = 0


def interpret(topic: str, payload: bytes, *, prefix: str, received: float, tz: ZoneInfo) -> Decoded:  # noqa: PLR0911 - one decoder per topic kind
    """Turn one MQTT message into points; PayloadError says why a message is unusable."""
    match = parse_topic(topic, prefix)
    if match is None:
        raise PayloadError(f"topic {topic!r} is not part of the {prefix!r} tree")
    if match.kind == "status":
        return Decoded((_status(match, payload, received),))
    model = decode(match.kind, payload)
    _check_names(match, model)
    if isinstance(model, IntervalPayload):
        return Decoded(
            interval_points(model, tz),
            IntervalKey(model.site, model.door, model.start),
            model.revision,
        )
    if isinstance(model, TransactionsPayload):
        return Decoded(
            (transactions_point(model),),
            IntervalKey(model.site, model.till, model.start, "till"),
            model.revision,
        )
    if isinstance(model, CrossingPayload):
        return Decoded((crossing_point(model),))
    if isinstance(model, DoorOccupancyPayload):
        return Decoded((door_occupancy_point(model),))
    if isinstance(model, SiteOccupancyPayload):
        return Decoded((site_occupancy_point(model),))
    if isinstance(model, ZoneOccupancyPayload):
        return Decoded((zone_occupancy_point(model),))
    if isinstance(model, VisitsPayload):
        return Decoded((visits_point(model),))
    if isinstance(model, NodeHealthPayload):
        return Decoded((node_health_point(model, received),))
    if isinstance(model, QualityPayload):
        return Decoded((quality_point(model),))
    raise PayloadError(f"no schema for {match.kind!r} payloads")  # pragma: no cover


def _check_names(match: TopicMatch, model: object) -> None:
    """The slugged names in the topic must be those of the payload, or the topic lies."""
    for level in ("site", "door", "till", "zone", "node"):
        expected = getattr(match, level)
        value = getattr(model, level, None)
        if expected is not None and isinstance(value, str) and slug(value) != expected:
            raise PayloadError(
                f"payload {level} {value!r} does not belong under topic level {expected!r}"
            )


def split_fields(p: AudienceSplit) -> dict[str, int | float | str | bool | None]:
    """visitors_in, staff_out, ...: who the counts were (fields, so a point's identity is
    unchanged from before the split and a re-sent old payload overwrites its old point);
    absent from the points of payloads from before the split."""
    return {name: getattr(p, name) for name in SPLIT_FIELDS}


def interval_points(p: IntervalPayload, tz: ZoneInfo) -> tuple[Point, ...]:
    stamp = p.start * 1_000_000_000
    counts: dict[str, int | float | str | bool | None] = {
        "entries": p.entries,
        "exits": p.exits,
        **split_fields(p),
    }
    local = datetime.fromtimestamp(p.start, UTC).astimezone(tz)
    audited: dict[str, int | float | str | bool | None] = {}
    if p.correction_in is not None:  # raw counts stay in entries/exits, beside these
        audited = {
            "entries_corrected": p.entries_corrected,
            "exits_corrected": p.exits_corrected,
            "correction_in": p.correction_in,
            "correction_out": p.correction_out,
            "corrected_since": p.corrected_since,
        }
    return (
        Point.make(
            DOOR_INTERVAL,
            {"site": p.site, "door": p.door},
            {
                **counts,
                "seconds": p.seconds,
                "revision": p.revision,
                "role": p.role,
                **audited,
            },
            stamp,
        ),
        Point.make(
            HOUR_OF_WEEK,
            {
                "site": p.site,
                "door": p.door,
                "weekday": WEEKDAYS[local.weekday()],
                "hour": f"{local.hour:02d}",
            },
            counts,
            stamp,
        ),
    )


def transactions_point(p: TransactionsPayload) -> Point:
    """Stamped with the interval start: a re-send or correction overwrites the same point.
    The zone tag is `(site)` when the till serves the whole site (tags cannot be empty)."""
    return Point.make(
        TILL_TRANSACTIONS,
        {"site": p.site, "till": p.till, "zone": p.zone or SITE_ZONE},
        {"transactions": p.transactions, "seconds": p.seconds, "revision": p.revision},
        p.start * 1_000_000_000,
    )


def crossing_point(p: CrossingPayload) -> Point:
    return Point.make(
        CROSSING,
        {"site": p.site, "door": p.door, "direction": p.direction},
        {"count": 1, "confidence": float(p.confidence), "kind": p.kind},
        seconds_to_ns(p.t),
    )


def door_occupancy_point(p: DoorOccupancyPayload) -> Point:
    return Point.make(
        DOOR_OCCUPANCY,
        {"site": p.site, "door": p.door},
        {"entries": p.entries, "exits": p.exits, "net": p.net},
        seconds_to_ns(p.t),
    )


def site_occupancy_point(p: SiteOccupancyPayload) -> Point:
    return Point.make(
        SITE_OCCUPANCY,
        {"site": p.site},
        {
            "occupancy": p.occupancy,
            "entries": p.entries,
            "exits": p.exits,
            "corrected": p.corrected,
            "last_reset": p.last_reset,
            "reset_reason": p.reset_reason,
            "occupancy_seconds": p.occupancy_seconds,
            "mean_visit_s": p.mean_visit_s,
            "capture_rate": p.capture_rate,
            **split_fields(p),
        },
        seconds_to_ns(p.t),
    )


def zone_occupancy_point(p: ZoneOccupancyPayload) -> Point:
    return Point.make(
        ZONE_OCCUPANCY,
        {"site": p.site, "zone": p.zone},
        {
            "occupancy": p.occupancy,
            "entries": p.entries,
            "exits": p.exits,
            "corrected": p.corrected,
            "last_reset": p.last_reset,
            "reset_reason": p.reset_reason,
            "occupancy_seconds": p.occupancy_seconds,
            "mean_visit_s": p.mean_visit_s,
            **split_fields(p),
        },
        seconds_to_ns(p.t),
    )


def visits_point(p: VisitsPayload) -> Point:
    """Stamped with the interval start: a re-delivery overwrites the same point. The zone tag
    is `(site)` for the whole site, so summing over zones never double-counts the site."""
    return Point.make(
        VISITS,
        {"site": p.site, "zone": p.zone or SITE_ZONE},
        {
            "occupancy_seconds": float(p.occupancy_seconds),
            "entries": p.entries,
            "exits": p.exits,
            "corrected": p.corrected,
            "inside_end": p.inside_end,
            "capture_rate": p.capture_rate,
            "seconds": p.seconds,
            **split_fields(p),
        },
        p.start * 1_000_000_000,
    )


def node_health_point(p: NodeHealthPayload, received: float) -> Point:
    return Point.make(
        NODE_HEALTH,
        {"site": p.site, "node": p.node, "door": p.door, "position": p.position},
        {
            "connected": None if p.connected is None else int(p.connected),
            "rssi": p.rssi,
            "battery_pct": p.battery_pct,
            "battery_mv": p.battery_mv,
            "last_seen": p.last_seen,
            "reconnects": p.reconnects,
            "gaps": p.gaps,
            "duplicates": p.duplicates,
            "ticks_dropped": p.ticks_dropped,
            "beam_stuck": int(p.beam_stuck),
        },
        seconds_to_ns(received),
    )


def quality_point(p: QualityPayload) -> Point:
    return Point.make(
        GATEWAY_QUALITY,
        {"site": p.site},
        {
            "duplicates_dropped": p.duplicates_dropped,
            "seq_gaps": p.seq_gaps,
            "late_ticks": p.late_ticks,
            "corrected_intervals": p.corrected_intervals,
            "occupancy_corrected": p.occupancy_corrected,
            "outbox_depth": p.outbox_depth,
            "outbox_dropped": p.outbox_dropped,
            "bad_frames": p.bad_frames,
        },
        seconds_to_ns(p.t),
    )


def _status(match: TopicMatch, payload: bytes, received: float) -> Point:
    text = payload.decode("utf-8", errors="replace").strip()
    if text not in (ONLINE, OFFLINE):
        raise PayloadError(f"gateway status must be {ONLINE!r} or {OFFLINE!r}, got {text[:40]!r}")
    # The topic carries only the slugged site name; the payload has no other.
    return Point.make(
        GATEWAY_STATUS,
        {"site": match.site},
        {"online": int(text == ONLINE)},
        seconds_to_ns(received),
    )


# -- written by the forecast job (doorcount forecast publish), not decoded from MQTT ----------


@dataclass(frozen=True, slots=True)
class ForecastHour:
    start: int  # unix seconds, the hour forecast
    mean: float
    lower: float
    upper: float


def forecast_fields(quantity: str) -> tuple[str, str, str]:
    """The mean, lower and upper fields of a quantity's forecast: `mean`, `lower`, `upper`
    for entries (as before visitors and occupancy were forecast), `visitors_mean`, ...,
    `occupancy_mean`, ... for the others, on the same points."""
    if quantity == "entries":
        return ("mean", "lower", "upper")
    return (f"{quantity}_mean", f"{quantity}_lower", f"{quantity}_upper")


def forecast_points(
    site: str,
    door: str | None,
    hours: list[ForecastHour],
    *,
    level: float,
    made: int,
    model: str,
    quantity: str = "entries",
    zone: str | None = None,
) -> list[Point]:
    """One point per forecast hour, stamped with the hour: a newer forecast of the same hour
    overwrites the older one, so the dashboard shows the latest. A site's, door's or zone's
    quantities share its points (fields per quantity, see `forecast_fields`)."""
    if door is not None and zone is not None:
        raise ValueError("a forecast is of a door or of a zone, not both")
    tags: dict[str, str | None]
    if zone is not None:
        measurement, tags = ZONE_FORECAST, {"site": site, "zone": zone}
    elif door is not None:
        measurement, tags = DOOR_FORECAST, {"site": site, "door": door}
    else:
        measurement, tags = SITE_FORECAST, {"site": site}
    mean, lower, upper = forecast_fields(quantity)
    return [
        Point.make(
            measurement,
            tags,
            {
                mean: round(float(h.mean), 3),
                lower: float(h.lower),
                upper: float(h.upper),
                "level": float(level),
                "made": made,
                "model": model,
            },
            h.start * 1_000_000_000,
        )
        for h in hours
    ]


def comparison_point(site: str, fields: Mapping[str, float | int | str], made: int) -> Point:
    """The latest four weeks against the four before (change, interval, p, days needed)."""
    return Point.make(SITE_COMPARISON, {"site": site}, dict(fields), made * 1_000_000_000)
