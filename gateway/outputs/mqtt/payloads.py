"""The MQTT topic tree and payload models: the contract with subscribers (InfluxDB bridge, HA).

Every payload carries `v`, its schema version; a subscriber rejects versions it does not know.
`docs/mqtt.md` embeds the JSON Schemas generated from these models.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.errors import DoorcountError

SCHEMA_VERSION = 1
_SLUG_BAD = re.compile(r"[^a-z0-9_-]")


class PayloadError(DoorcountError, ValueError):
    """A received payload does not match its topic's schema."""


def slug(name: str) -> str:
    """A site, door or node name as a topic level: lowercase, [a-z0-9_-], others -> '_'."""
    if not name:
        raise ValueError("an empty name cannot be a topic level")
    return _SLUG_BAD.sub("_", name.lower())


def crossing_id(door: str, t: float, direction: str) -> str:
    """Deterministic id of a crossing, so a re-sent event is recognisable (ms resolution)."""
    return f"{slug(door)}:{round(t * 1000)}:{direction}"


MAX_UNIX_S = 4_102_444_800
"""2100-01-01: a time beyond is a corrupt payload, not a count (and would overflow stores)."""
Name = Annotated[str, Field(min_length=1, max_length=128)]
UnixTime = Annotated[float, Field(ge=0.0, le=MAX_UNIX_S)]
UnixSecond = Annotated[int, Field(ge=0, le=MAX_UNIX_S)]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    v: Literal[1] = Field(default=1, description="schema version of this payload")

    def encode(self) -> bytes:
        return self.model_dump_json().encode()


Count = Annotated[int, Field(ge=0)]


SPLIT_FIELDS = (
    "visitors_in",
    "visitors_out",
    "staff_in",
    "staff_out",
    "out_of_hours_in",
    "out_of_hours_out",
    "passersby_in",
    "passersby_out",
)


class AudienceSplit(_Payload):
    """Who the counted crossings were (see `gateway.core.site`): visitors, staff (staff
    doors), out-of-hours (outside opening hours), passers-by (perimeter beams).

    The gateway always sends all eight. They are absent from payloads of gateways from before
    the split (None here, left out of the JSON again): then every count was a visitor's."""

    visitors_in: Count | None = None
    visitors_out: Count | None = None
    staff_in: Count | None = None
    staff_out: Count | None = None
    out_of_hours_in: Count | None = None
    out_of_hours_out: Count | None = None
    passersby_in: Count | None = None
    passersby_out: Count | None = None

    def encode(self) -> bytes:
        absent = {name for name in SPLIT_FIELDS if getattr(self, name) is None}
        return self.model_dump_json(exclude=absent).encode()


Role = Literal["entrance", "staff", "perimeter", "internal"]


class CrossingPayload(_Payload):
    """One person crossed a door. QoS 1, not retained; `id` identifies re-sends."""

    site: Name
    door: Name
    direction: Literal["in", "out"]
    t: UnixTime = Field(description="time of the crossing, Unix seconds")
    kind: str = Field(description="how the engine decided it: single, split, cart, ...")
    confidence: float = Field(ge=0.0, le=1.0)
    id: str = Field(description="deterministic id of door + t + direction")
    audience: Literal["visitor", "staff", "out_of_hours", "passerby"] = Field(
        default="visitor", description="who the crossing counts as"
    )


class _Interval(_Payload):
    site: Name
    door: Name
    role: Role = "entrance"
    start: UnixSecond = Field(description="interval start, Unix seconds")
    seconds: int = Field(gt=0, description="interval length")
    entries: int = Field(ge=0)
    exits: int = Field(ge=0)
    revision: int = Field(ge=0, description="0 first, +1 per correction (late ticks)")
    entries_corrected: int | None = Field(
        default=None, ge=0, description="entries x the door's audit factor (raw: entries)"
    )
    exits_corrected: int | None = Field(
        default=None, ge=0, description="exits x the door's audit factor (raw: exits)"
    )
    correction_in: float | None = Field(default=None, gt=0, description="audit factor, in")
    correction_out: float | None = Field(default=None, gt=0, description="audit factor, out")
    corrected_since: UnixTime | None = Field(
        default=None, description="when the installer accepted the door's audit"
    )


class IntervalPayload(AudienceSplit, _Interval):
    """ABSOLUTE counts of one door in one interval; a higher revision replaces a lower one.

    `entries`/`exits` count everyone; the split says who they were. For a perimeter door
    they are passers-by in the two directions."""

    def encode(self) -> bytes:
        """Without the split and the correction fields where they do not apply."""
        absent = {n for n in (*SPLIT_FIELDS, *CORRECTION_FIELDS) if getattr(self, n) is None}
        return self.model_dump_json(exclude=absent).encode()


CORRECTION_FIELDS = frozenset(
    {"entries_corrected", "exits_corrected", "correction_in", "correction_out", "corrected_since"}
)
"""An accepted audit's fields of an interval (absent while the door has none)."""


class DoorOccupancyPayload(_Payload):
    """Entries and exits through one door since the last occupancy reset. Retained."""

    site: Name
    door: Name
    role: Role = "entrance"
    t: UnixTime
    entries: int = Field(ge=0)
    exits: int = Field(ge=0)
    net: int = Field(description="entries - exits; may be negative for one door")


class _SiteOccupancy(_Payload):
    site: Name
    t: UnixTime
    occupancy: int = Field(ge=0)
    entries: int = Field(ge=0, description="since the last reset")
    exits: int = Field(ge=0, description="since the last reset")
    corrected: int = Field(
        ge=0,
        description="people the zero floor and the last reset had to correct since that reset",
    )
    last_reset: UnixTime | None
    reset_reason: str | None = Field(description="daily, idle or null before the first reset")
    occupancy_seconds: float | None = Field(
        default=None,
        ge=0.0,
        description="person-seconds inside since the last reset, up to `t` (null from "
        "gateways from before it)",
    )
    mean_visit_s: float | None = Field(
        default=None,
        ge=0.0,
        description="occupancy_seconds / entries since the last reset (Little's law): exact "
        "when `occupancy` is 0, an under-estimate while people are inside; null without entries",
    )
    capture_rate: float | None = Field(
        default=None,
        ge=0.0,
        description="visitors_in / (passersby_in + passersby_out) since the last reset; null "
        "without passers-by",
    )


class SiteOccupancyPayload(AudienceSplit, _SiteOccupancy):
    """People inside the site, never negative. Retained. The split counts crossings into and
    out of the site (and along its perimeter) since the last reset."""


class _ZoneOccupancy(_Payload):
    site: Name
    zone: Name
    t: UnixTime
    occupancy: int = Field(ge=0)
    entries: int = Field(ge=0, description="since the last reset")
    exits: int = Field(ge=0, description="since the last reset")
    corrected: int = Field(
        ge=0,
        description="people the zero floor and the last reset had to correct since that reset",
    )
    last_reset: UnixTime | None
    reset_reason: str | None = Field(description="daily, idle or null before the first reset")
    occupancy_seconds: float | None = Field(
        default=None,
        ge=0.0,
        description="person-seconds inside since the last reset, up to `t` (null from "
        "gateways from before it)",
    )
    mean_visit_s: float | None = Field(
        default=None,
        ge=0.0,
        description="occupancy_seconds / entries since the last reset (Little's law): exact "
        "when `occupancy` is 0, an under-estimate while people are inside; null without entries",
    )


class ZoneOccupancyPayload(AudienceSplit, _ZoneOccupancy):
    """People inside one zone of the site, never negative; published for configured zones.
    Retained. The split counts crossings into and out of the zone since its last reset."""


class _Visits(_Payload):
    site: Name
    zone: Name | None = Field(description="the zone; null = the whole site")
    start: UnixSecond = Field(description="interval start, Unix seconds")
    seconds: int = Field(gt=0, description="interval length")
    occupancy_seconds: float = Field(
        ge=0.0,
        description="integral of the people inside over the interval (person-seconds); "
        "additive over intervals, zones and sites",
    )
    entries: int = Field(ge=0, description="people who came in during the interval")
    exits: int = Field(ge=0, description="people who left during the interval")
    corrected: int = Field(ge=0, description="exits with nobody inside (the zero floor)")
    inside_end: int = Field(ge=0, description="people inside at the end of the interval")
    capture_rate: float | None = Field(
        ge=0.0,
        description="visitors_in / (passersby_in + passersby_out) in this interval; null "
        "without passers-by (zones never have any)",
    )


class VisitsPayload(AudienceSplit, _Visits):
    """Occupancy-seconds and movements of one zone (or the site) in one interval, published
    once when the interval has ended. Mean visit length over any period is
    sum(occupancy_seconds) / sum(entries) (Little's law): exact when the period starts and
    ends with nobody inside (docs/visits.md). QoS 1, not retained."""


class NodeHealthPayload(_Payload):
    """Link and sensor state of one beam node. Retained."""

    site: Name
    node: Name
    door: Name | None
    position: Literal["outer", "inner", "dual"] | None
    connected: bool | None = Field(
        description="null until the gateway's first connection attempt since its start ended"
    )
    rssi: int | None
    battery_pct: int | None = Field(ge=0, le=100)
    battery_mv: int | None = Field(ge=0)
    last_seen: UnixTime | None
    reconnects: int = Field(ge=0)
    gaps: int = Field(ge=0, description="sequence gaps: ticks that never arrived")
    duplicates: int = Field(ge=0)
    ticks_dropped: int = Field(ge=0)
    beam_stuck: bool


class QualityPayload(_Payload):
    """Data-quality figures of the gateway since it was installed (its database). Retained."""

    site: Name
    t: UnixTime
    duplicates_dropped: int = Field(ge=0)
    seq_gaps: int = Field(ge=0)
    late_ticks: int = Field(
        ge=0, description="crossings from late ticks that landed in an already-published interval"
    )
    corrected_intervals: int = Field(ge=0, description="interval corrections published")
    occupancy_corrected: int = Field(ge=0, description="total occupancy corrections")
    outbox_depth: int = Field(ge=0, description="messages waiting for a broker acknowledgement")
    outbox_dropped: int = Field(ge=0, description="messages the full outbox policy discarded")
    bad_frames: int = Field(ge=0)


class TransactionsPayload(_Payload):
    """ABSOLUTE till transactions of one till in one interval, from a POS system: a count, no
    customer data. Idempotent: a re-send replaces (same till + start); a late correction is a
    re-send with the new count and a higher `revision`. QoS 1, not retained."""

    site: Name
    till: Name = Field(description="till, register or POS source within the site")
    zone: Name | None = Field(
        default=None, description="zone the till serves (conversion per zone); null = the site"
    )
    start: UnixSecond = Field(description="interval start, Unix seconds")
    seconds: int = Field(gt=0, le=86400, description="interval length")
    transactions: int = Field(ge=0, le=1_000_000, description="completed sales in the interval")
    revision: int = Field(default=0, ge=0, description="a higher revision replaces a lower one")


Kind = Literal[
    "crossing",
    "interval",
    "door_occupancy",
    "site_occupancy",
    "zone_occupancy",
    "visits",
    "node_health",
    "status",
    "quality",
    "transactions",
]

PAYLOADS: dict[Kind, type[_Payload]] = {
    "crossing": CrossingPayload,
    "interval": IntervalPayload,
    "door_occupancy": DoorOccupancyPayload,
    "site_occupancy": SiteOccupancyPayload,
    "zone_occupancy": ZoneOccupancyPayload,
    "visits": VisitsPayload,
    "node_health": NodeHealthPayload,
    "quality": QualityPayload,
    "transactions": TransactionsPayload,
}
"""JSON payload model per topic kind (`status` is the plain string online/offline)."""

ONLINE = "online"
OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class TopicMatch:
    kind: Kind
    site: Name
    door: Name | None = None
    node: Name | None = None
    zone: Name | None = None
    till: Name | None = None


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names for one site under one prefix; names are slugged here."""

    prefix: str
    site: Name

    @property
    def base(self) -> str:
        return f"{self.prefix}/{slug(self.site)}"

    def crossing(self, door: str) -> str:
        return f"{self.base}/{slug(door)}/crossing"

    def interval(self, door: str) -> str:
        return f"{self.base}/{slug(door)}/interval"

    def door_occupancy(self, door: str) -> str:
        return f"{self.base}/{slug(door)}/occupancy"

    def site_occupancy(self) -> str:
        return f"{self.base}/occupancy"

    def zone_occupancy(self, zone: str) -> str:
        return f"{self.base}/zone/{slug(zone)}/occupancy"

    def visits(self, zone: str | None) -> str:
        """`{base}/zone/{zone}/visits`, or `{base}/visits` for the whole site."""
        return f"{self.base}/visits" if zone is None else f"{self.base}/zone/{slug(zone)}/visits"

    def node_health(self, node: str) -> str:
        return f"{self.base}/node/{slug(node)}/health"

    def status(self) -> str:
        return f"{self.base}/gateway/status"

    def quality(self) -> str:
        return f"{self.base}/gateway/quality"

    def transactions(self, till: str) -> str:
        return f"{self.base}/till/{slug(till)}/transactions"

    def subscription(self) -> str:
        """Wildcard filter matching every topic of this site."""
        return f"{self.base}/#"


def parse_topic(topic: str, prefix: str = "doorcount") -> TopicMatch | None:  # noqa: PLR0911 - one return per topic kind
    """Classify a topic of the tree; None for topics outside it. Levels are the slugged names."""
    head = prefix.rstrip("/") + "/"
    if not topic.startswith(head):
        return None
    levels = topic[len(head) :].split("/")
    match levels:
        case [site, "occupancy"]:
            return TopicMatch("site_occupancy", site)
        case [site, "gateway", "status"]:
            return TopicMatch("status", site)
        case [site, "gateway", "quality"]:
            return TopicMatch("quality", site)
        case [site, "zone", zone, "occupancy"]:
            return TopicMatch("zone_occupancy", site, zone=zone)
        case [site, "visits"]:
            return TopicMatch("visits", site)
        case [site, "zone", zone, "visits"]:
            return TopicMatch("visits", site, zone=zone)
        case [site, "node", node, "health"]:
            return TopicMatch("node_health", site, node=node)
        case [site, "till", till, "transactions"]:
            return TopicMatch("transactions", site, till=till)
        case [site, door, "crossing"]:
            return TopicMatch("crossing", site, door=door)
        case [site, door, "interval"]:
            return TopicMatch("interval", site, door=door)
        case [site, door, "occupancy"]:
            return TopicMatch("door_occupancy", site, door=door)
    return None


def decode(kind: Kind, payload: bytes | str) -> _Payload:
    """Validate a received JSON payload against its kind's model; PayloadError names the fault."""
    model = PAYLOADS.get(kind)
    if model is None:
        raise PayloadError(f"topic kind {kind!r} carries no JSON payload")
    try:
        return model.model_validate_json(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        raise PayloadError(f"{kind} payload: {where}: {first['msg']}") from None


SCHEMA_BEGIN = (
    "<!-- schemas:begin (generated: python -m gateway.outputs.mqtt.payloads docs/mqtt.md) -->"
)
SCHEMA_END = "<!-- schemas:end -->"


def schemas_markdown() -> str:
    """The JSON Schema of every payload, as the generated section of docs/mqtt.md."""
    import json

    parts = [SCHEMA_BEGIN]
    for kind, model in PAYLOADS.items():
        schema = json.dumps(model.model_json_schema(), indent=2, sort_keys=True)
        parts.append(f"### `{kind}`: {model.__name__}\n\n```json\n{schema}\n```")
    parts.append(SCHEMA_END)
    return "\n\n".join(parts)


def _write_docs(path: str) -> None:
    from pathlib import Path

    doc = Path(path)
    text = doc.read_text(encoding="utf-8")
    head, rest = text.split(SCHEMA_BEGIN, 1)
    _, tail = rest.split(SCHEMA_END, 1)
    doc.write_text(head + schemas_markdown() + tail, encoding="utf-8")


if __name__ == "__main__":
    import sys

    _write_docs(sys.argv[1] if len(sys.argv) > 1 else "docs/mqtt.md")
