"""Privacy (docs/privacy.md): every field that leaves the gateway or is stored is on a reviewed
allow-list, and nothing is named like an identifier of a visitor.

A new field in a published payload model or a stored measurement fails `test_*_allow_list`
until it is reviewed here and in docs/privacy.md. Names of OUR equipment are allowed: `site`,
`door`, `node` (a sensor node's id), HA discovery's `identifiers`/`unique_id`/`name` (of the
gateway, doors and nodes). The nodes' BLE addresses are in the pairing registry and bond store
on the gateway only; they are never published nor stored in InfluxDB.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.outputs.bridge import schema
from gateway.outputs.bridge.points import Point
from gateway.outputs.mqtt.discovery import discovery_configs
from gateway.outputs.mqtt.payloads import (
    PAYLOADS,
    SPLIT_FIELDS,
    CrossingPayload,
    DoorOccupancyPayload,
    IntervalPayload,
    NodeHealthPayload,
    QualityPayload,
    SiteOccupancyPayload,
    Topics,
    TransactionsPayload,
    VisitsPayload,
    ZoneOccupancyPayload,
)
from gateway.protocol.trace import BeamRef, DoorSpec

# -- published: MQTT payload models (gateway/outputs/mqtt/payloads.py) -------------------------

# Counts of crossings by who they were (visitors, staff, out-of-hours, passers-by): numbers per
# door, interval, zone or site, never about one person. Reviewed: they carry the word
# "visitors" as a class, not an identifier (docs/privacy.md "Visitors and staff").
AUDIENCE_COUNTS = {
    "visitors_in",
    "visitors_out",
    "staff_in",
    "staff_out",
    "out_of_hours_in",
    "out_of_hours_out",
    "passersby_in",
    "passersby_out",
}
OCCUPANCY = {"v", "site", "t", "occupancy", "entries", "exits", "corrected", "last_reset"}
AUDIT_CORRECTION = {  # an accepted audit's correction: door-level counts x a factor, since when
    "entries_corrected",
    "exits_corrected",
    "correction_in",
    "correction_out",
    "corrected_since",
}
LITTLE = {"occupancy_seconds", "mean_visit_s"}  # integrals of the count, no identity
VISITS = {"occupancy_seconds", "entries", "exits", "corrected", "inside_end"}

PUBLISHED: dict[str, set[str]] = {
    "crossing": {"v", "site", "door", "direction", "t", "kind", "confidence", "id", "audience"},
    "interval": {"v", "site", "door", "role", "start", "seconds", "entries", "exits", "revision"}
    | AUDIENCE_COUNTS
    | AUDIT_CORRECTION,
    "door_occupancy": {"v", "site", "door", "role", "t", "entries", "exits", "net"},
    "site_occupancy": OCCUPANCY | {"reset_reason", "capture_rate"} | LITTLE | AUDIENCE_COUNTS,
    "zone_occupancy": OCCUPANCY | {"zone", "reset_reason"} | LITTLE | AUDIENCE_COUNTS,
    "node_health": {
        "v",
        "site",
        "node",
        "door",
        "position",
        "connected",
        "rssi",
        "battery_pct",
        "battery_mv",
        "last_seen",
        "reconnects",
        "gaps",
        "duplicates",
        "ticks_dropped",
        "beam_stuck",
    },
    "quality": {
        "v",
        "site",
        "t",
        "duplicates_dropped",
        "seq_gaps",
        "late_ticks",
        "corrected_intervals",
        "occupancy_corrected",
        "outbox_depth",
        "outbox_dropped",
        "bad_frames",
    },
    # Till counts from a POS system: how many sales, never who bought or what (docs/privacy.md).
    "transactions": {"v", "site", "till", "zone", "start", "seconds", "transactions", "revision"},
    # Person-seconds inside a zone or the site per interval: an integral of the occupancy, so
    # visit length needs no identity (docs/privacy.md "Visit length, capture rate ...").
    "visits": VISITS | {"v", "site", "zone", "start", "seconds", "capture_rate"} | AUDIENCE_COUNTS,
}

# -- stored: InfluxDB measurements (gateway/outputs/bridge/schema.py) --------------------------

FORECAST = {"mean", "lower", "upper", "level", "made", "model"}


def forecast_of(quantity: str) -> set[str]:
    return {f"{quantity}_{bound}" for bound in ("mean", "lower", "upper")}


STORED: dict[str, tuple[set[str], set[str]]] = {  # measurement: (tags, fields)
    schema.DOOR_INTERVAL: (
        {"site", "door"},
        {"entries", "exits", "seconds", "revision", "role"} | AUDIENCE_COUNTS | AUDIT_CORRECTION,
    ),
    schema.HOUR_OF_WEEK: (
        {"site", "door", "weekday", "hour"},
        {"entries", "exits"} | AUDIENCE_COUNTS,
    ),
    schema.CROSSING: ({"site", "door", "direction"}, {"count", "confidence", "kind"}),
    schema.DOOR_OCCUPANCY: ({"site", "door"}, {"entries", "exits", "net"}),
    schema.SITE_OCCUPANCY: (
        {"site"},
        {"occupancy", "entries", "exits", "corrected", "last_reset", "reset_reason"}
        | {"capture_rate"}
        | LITTLE
        | AUDIENCE_COUNTS,
    ),
    schema.ZONE_OCCUPANCY: (
        {"site", "zone"},
        {"occupancy", "entries", "exits", "corrected", "last_reset", "reset_reason"}
        | LITTLE
        | AUDIENCE_COUNTS,
    ),
    schema.NODE_HEALTH: (
        {"site", "node", "door", "position"},
        {
            "connected",
            "rssi",
            "battery_pct",
            "battery_mv",
            "last_seen",
            "reconnects",
            "gaps",
            "duplicates",
            "ticks_dropped",
            "beam_stuck",
        },
    ),
    schema.GATEWAY_STATUS: ({"site"}, {"online"}),
    # Written by the forecast job (gateway/insight/publish.py) from the counts above.
    # Entries as mean/lower/upper; visitors and occupancy as visitors_mean, ... on the same
    # points (occupancy per site and zone only: a door has no occupancy of its own).
    schema.SITE_FORECAST: ({"site"}, FORECAST | forecast_of("visitors") | forecast_of("occupancy")),
    schema.DOOR_FORECAST: ({"site", "door"}, FORECAST | forecast_of("visitors")),
    schema.ZONE_FORECAST: (
        {"site", "zone"},
        FORECAST | forecast_of("visitors") | forecast_of("occupancy"),
    ),
    schema.SITE_COMPARISON: (
        {"site"},
        {"change", "ci_low", "ci_high", "p_value", "days", "days_needed", "detect"},
    ),
    schema.GATEWAY_QUALITY: (
        {"site"},
        {
            "duplicates_dropped",
            "seq_gaps",
            "late_ticks",
            "corrected_intervals",
            "occupancy_corrected",
            "outbox_depth",
            "outbox_dropped",
            "bad_frames",
        },
    ),
    schema.TILL_TRANSACTIONS: ({"site", "till", "zone"}, {"transactions", "seconds", "revision"}),
    schema.VISITS: ({"site", "zone"}, VISITS | {"seconds", "capture_rate"} | AUDIENCE_COUNTS),
}

# Names that would identify or describe a person or a visitor's device, matched against whole
# words (snake_case or camelCase) of every field, tag and discovery key.
VISITOR_WORDS = {
    "mac",
    "macs",
    "bdaddr",
    "addr",
    "address",
    "ip",
    "ipv4",
    "ipv6",
    "imei",
    "imsi",
    "iccid",
    "msisdn",
    "phone",
    "ssid",
    "bssid",
    "probe",
    "fingerprint",
    "face",
    "faces",
    "image",
    "images",
    "photo",
    "video",
    "frame_jpeg",
    "snapshot",
    "camera",
    "audio",
    "voice",
    "person",
    "persons",
    "people_id",
    "visitor",
    "visitors",
    "user",
    "username",
    "email",
    "gender",
    "age",
    "height",
    "weight",
    "biometric",
    "track",
    "tracking",
    "trajectory",
    "uuid",
    "device_id",
    "advertiser",
    "manufacturer_data",
    "serial_number",
    "plate",
    "badge",
    "card",
    "token",
    "cookie",
    "session",
}


def words(name: str) -> set[str]:
    snake = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()
    parts = [p for p in re.split(r"[^a-z0-9]+", snake) if p]
    joined = {"_".join(parts[i : i + 2]) for i in range(len(parts) - 1)}
    return set(parts) | joined


def visitor_like(name: str) -> set[str]:
    return words(name) & VISITOR_WORDS


def test_published_payload_fields_match_the_allow_list() -> None:
    assert set(PAYLOADS) == set(PUBLISHED), "a payload kind was added or removed: review it"
    for kind, model in PAYLOADS.items():
        assert set(model.model_fields) == PUBLISHED[kind], kind


def test_payload_models_forbid_extra_fields() -> None:
    """A field cannot slip in at run time either: unknown keys are rejected, not carried."""
    for model in PAYLOADS.values():
        assert model.model_config.get("extra") == "forbid", model.__name__


SITE, DOOR = "Corner Shop", "Front"
T = 1_767_571_200.0


def example_points() -> list[Point]:
    """One point set per measurement, built by the bridge's own schema functions."""
    tz = ZoneInfo("UTC")
    hours = [schema.ForecastHour(int(T), 4.0, 1, 8)]
    comparison = {
        "change": 0.1,
        "ci_low": -0.05,
        "ci_high": 0.25,
        "p_value": 0.2,
        "days": 28,
        "days_needed": 60,
        "detect": 0.1,
    }
    split = dict.fromkeys(SPLIT_FIELDS, 0)
    return [
        *schema.forecast_points(SITE, None, hours, level=0.8, made=int(T), model="profile"),
        *schema.forecast_points(SITE, DOOR, hours, level=0.8, made=int(T), model="profile"),
        *(
            point
            for quantity in ("visitors", "occupancy")
            for point in schema.forecast_points(
                SITE, None, hours, level=0.8, made=int(T), model="profile", quantity=quantity
            )
        ),
        *schema.forecast_points(
            SITE, DOOR, hours, level=0.8, made=int(T), model="profile", quantity="visitors"
        ),
        *(
            point
            for quantity in ("entries", "visitors", "occupancy")
            for point in schema.forecast_points(
                SITE,
                None,
                hours,
                level=0.8,
                made=int(T),
                model="profile",
                quantity=quantity,
                zone="floor",
            )
        ),
        schema.comparison_point(SITE, comparison, int(T)),
        *schema.interval_points(
            IntervalPayload(
                site=SITE,
                door=DOOR,
                start=int(T),
                seconds=60,
                entries=1,
                exits=2,
                revision=0,
                **split,
                entries_corrected=1,
                exits_corrected=3,
                correction_in=1.2,
                correction_out=1.3,
                corrected_since=T - 3600,
            ),
            tz,
        ),
        schema.crossing_point(
            CrossingPayload(
                site=SITE,
                door=DOOR,
                direction="in",
                t=T,
                kind="single",
                confidence=0.9,
                id="front:1:in",
            )
        ),
        schema.door_occupancy_point(
            DoorOccupancyPayload(site=SITE, door=DOOR, t=T, entries=1, exits=0, net=1)
        ),
        schema.site_occupancy_point(
            SiteOccupancyPayload(
                site=SITE,
                t=T,
                occupancy=1,
                entries=1,
                exits=0,
                corrected=0,
                last_reset=T,
                reset_reason="daily",
                occupancy_seconds=60.0,
                mean_visit_s=60.0,
                capture_rate=0.5,
                **split,
            )
        ),
        schema.zone_occupancy_point(
            ZoneOccupancyPayload(
                site=SITE,
                zone="upstairs",
                t=T,
                occupancy=1,
                entries=1,
                exits=0,
                corrected=0,
                last_reset=T,
                reset_reason="daily",
                occupancy_seconds=60.0,
                mean_visit_s=60.0,
                **split,
            )
        ),
        schema.node_health_point(
            NodeHealthPayload(
                site=SITE,
                node="n1",
                door=DOOR,
                position="outer",
                connected=True,
                rssi=-60,
                battery_pct=90,
                battery_mv=3000,
                last_seen=T,
                reconnects=0,
                gaps=0,
                duplicates=0,
                ticks_dropped=0,
                beam_stuck=False,
            ),
            T,
        ),
        schema.quality_point(
            QualityPayload(
                site=SITE,
                t=T,
                duplicates_dropped=0,
                seq_gaps=0,
                late_ticks=0,
                corrected_intervals=0,
                occupancy_corrected=0,
                outbox_depth=0,
                outbox_dropped=0,
                bad_frames=0,
            )
        ),
        *schema.interpret(
            Topics("doorcount", SITE).status(), b"online", prefix="doorcount", received=T, tz=tz
        ).points,
        schema.transactions_point(
            TransactionsPayload(
                site=SITE, till="Till 1", zone="Shop", start=int(T), seconds=3600, transactions=4
            )
        ),
        schema.visits_point(
            VisitsPayload(
                site=SITE,
                zone=None,
                start=int(T),
                seconds=60,
                occupancy_seconds=42.5,
                entries=1,
                exits=0,
                corrected=0,
                inside_end=1,
                capture_rate=0.25,
                **split,
            )
        ),
    ]


def test_stored_measurements_match_the_allow_list() -> None:
    seen: dict[str, tuple[set[str], set[str]]] = {}
    for point in example_points():
        tags, fields = seen.setdefault(point.measurement, (set(), set()))
        tags.update(k for k, _ in point.tags)
        fields.update(k for k, _ in point.fields)
    assert seen == STORED


def test_every_measurement_constant_is_on_the_allow_list() -> None:
    constants = {
        value
        for name, value in vars(schema).items()
        if name.isupper()
        and isinstance(value, str)
        and name not in {"ONLINE", "OFFLINE", "SITE_ZONE"}
    }
    assert constants == set(STORED)


@pytest.mark.parametrize(
    "name",
    sorted(
        {f for fields in PUBLISHED.values() for f in fields}
        | {n for tags, fields in STORED.values() for n in tags | fields}
        | set(STORED)
    ),
)
def test_no_field_names_a_visitor_identifier(name: str) -> None:
    if name in AUDIENCE_COUNTS:
        return  # reviewed above: a count of a class of crossings
    if name in forecast_of("visitors"):
        return  # reviewed: the forecast of that count per hour, a number (test below)
    assert not visitor_like(name), f"{name!r} looks like an identifier of a visitor"


def test_audience_counts_are_only_counts() -> None:
    """The reviewed exceptions stay what they were reviewed as: non-negative integers, and the
    audience of a crossing is one of four classes, nothing about the person."""
    assert set(SPLIT_FIELDS) == AUDIENCE_COUNTS
    for model in PAYLOADS.values():
        props = model.model_json_schema()["properties"]
        for name in AUDIENCE_COUNTS & set(props):
            kinds = {k.get("type") for k in props[name]["anyOf"]}
            assert kinds == {"integer", "null"}, (model.__name__, name)
            assert props[name]["anyOf"][0]["minimum"] == 0
    audience = CrossingPayload.model_json_schema()["properties"]["audience"]
    assert set(audience["enum"]) == {"visitor", "staff", "out_of_hours", "passerby"}


def collect_keys(value: Any, out: set[str]) -> set[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            out.add(str(key))
            collect_keys(inner, out)
    elif isinstance(value, list):
        for inner in value:
            collect_keys(inner, out)
    return out


def test_home_assistant_discovery_describes_only_our_equipment() -> None:
    doors = [DoorSpec(DOOR, BeamRef("n1", 0), BeamRef("n2", 0))]
    configs = discovery_configs(Topics("doorcount", SITE), doors)
    keys = set().union(*(collect_keys(c, set()) for c in configs.values()))
    # HA's device registry: `identifiers` and `manufacturer` name the gateway, door and node
    # devices doorcount itself creates (values checked below), never a visitor's device.
    ours = {"identifiers", "manufacturer"}
    flagged = {k for k in keys if visitor_like(k)} - ours
    assert not flagged
    for config in configs.values():
        for ident in config["device"]["identifiers"]:
            assert ident.startswith("doorcount_"), ident
        assert config["device"]["manufacturer"] == "doorcount"


def test_the_word_scan_catches_what_it_should() -> None:
    assert visitor_like("phone_mac") == {"phone", "mac"}
    assert visitor_like("visitorId") == {"visitor"}
    assert visitor_like("visitor_id") == {"visitor"}
    assert not visitor_like("battery_mv")
    assert not visitor_like("last_seen")


# -- staff badges (docs/privacy.md "Staff badges") ---------------------------------------------

# What a node says about a badge: that a registered one was heard with a beam episode, how
# strongly. Not the key, not the identifier it heard, not which badge or group.
BADGE_FRAME = {"boot_id", "epoch", "node_us", "duration_ms", "rssi_dbm"}
# The same as a trace / recording line on the gateway's disk.
BADGE_LINE = {"type", "node", "boot", "node_us", "duration_us", "rssi", "rx"}
# What the gateway keeps in memory until a crossing claims it: a door and two times.
BADGE_EPISODE = {"door", "t0", "t1"}
# The registry (<state_dir>/badges.json, 0600): a random handle, a group label, the key.
BADGE_REGISTRY = {"handle", "group", "key", "added"}


def test_badge_frame_and_line_match_the_allow_list() -> None:
    from dataclasses import fields

    from gateway.core.badges import Badge, BadgeEpisode
    from gateway.protocol.trace import BadgeHeard
    from gateway.protocol.wire import BadgeSeen

    assert {f.name for f in fields(BadgeSeen)} == BADGE_FRAME
    assert len(bytes(BadgeSeen(1, 0, 0, 0, -60))) == 15  # nothing rides along
    assert set(BadgeHeard("n1", 1, 0, 0, -60, 0.0).to_json()) == BADGE_LINE
    assert {f.name for f in fields(BadgeEpisode)} == BADGE_EPISODE
    assert set(Badge("abc", "staff", bytes(16), "2026-01-01").to_json()) == BADGE_REGISTRY


def test_a_badge_makes_a_staff_count_and_nothing_else() -> None:
    """A crossing made staff by a badge publishes exactly the fields of any crossing."""
    from gateway.core.badges import BadgeEpisode, attribute
    from gateway.core.events import Crossing
    from gateway.core.site import SiteLayout

    c = Crossing(DOOR, "in", T, "single", 1.0, T + 1)
    staff = attribute([c], [BadgeEpisode(DOOR, T - 0.2, T + 0.3)])
    counted = SiteLayout.default([DOOR]).classify(c, badge=0 in staff)
    payload = CrossingPayload(
        site=SITE, door=DOOR, direction="in", t=T, kind="single", confidence=1.0, id="x",
        audience=counted.audience,
    )  # fmt: skip
    assert counted.audience == "staff"
    assert set(payload.model_dump()) == PUBLISHED["crossing"]


def test_badge_groups_cannot_be_names() -> None:
    from gateway.core.badges import BadgeError, BadgeRegistry

    registry = BadgeRegistry(Path("/nonexistent/badges.json"))
    for name in ("Anna", "anna smith", "anna.smith@example.com"):
        with pytest.raises(BadgeError):
            registry.add(name, "2026-01-01")
    assert registry.add("staff", "2026-01-01").group == "staff"


def test_badge_identifiers_do_not_link_minutes_without_the_key() -> None:
    from gateway.core.badges import eid

    key = bytes(range(16))
    seen = [eid(key, minute) for minute in range(29_000_000, 29_000_000 + 1440)]
    assert len(set(seen)) == len(seen)  # a day of minutes: no repeat to follow
    assert eid(bytes(16), 29_000_000) != seen[0]


def test_visitor_forecast_fields_are_only_numbers() -> None:
    """The reviewed `visitors_*` forecast fields hold a forecast count per hour and its
    interval: numbers, nothing about a person."""
    points = [p for p in example_points() if p.measurement.endswith("forecast")]
    values = [v for p in points for k, v in p.fields if k in forecast_of("visitors")]
    assert values
    assert all(isinstance(v, float) and v >= 0 for v in values)
