"""The topic and payload contract, and the settings that shape it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from gateway.outputs.mqtt.payloads import (
    PAYLOADS,
    CrossingPayload,
    IntervalPayload,
    PayloadError,
    TopicMatch,
    Topics,
    TransactionsPayload,
    crossing_id,
    decode,
    parse_topic,
    schemas_markdown,
    slug,
)
from gateway.outputs.mqtt.settings import MqttSettings, OccupancySettings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "mqtt.md"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Front Door", "front_door"),
        ("n01", "n01"),
        ("Café #2", "caf___2"),
        ("a/b+c", "a_b_c"),
        ("back-door_2", "back-door_2"),
    ],
)
def test_slug(name: str, expected: str) -> None:
    assert slug(name) == expected


def test_topics_and_their_parsing_round_trip() -> None:
    topics = Topics("doorcount", "Corner Shop")
    cases = {
        topics.crossing("Front Door"): TopicMatch("crossing", "corner_shop", door="front_door"),
        topics.interval("Front Door"): TopicMatch("interval", "corner_shop", door="front_door"),
        topics.door_occupancy("Back"): TopicMatch("door_occupancy", "corner_shop", door="back"),
        topics.site_occupancy(): TopicMatch("site_occupancy", "corner_shop"),
        topics.zone_occupancy("Show Room"): TopicMatch(
            "zone_occupancy", "corner_shop", zone="show_room"
        ),
        topics.node_health("N1"): TopicMatch("node_health", "corner_shop", node="n1"),
        topics.status(): TopicMatch("status", "corner_shop"),
        topics.quality(): TopicMatch("quality", "corner_shop"),
        topics.transactions("Till 2"): TopicMatch("transactions", "corner_shop", till="till_2"),
    }
    assert topics.interval("Front Door") == "doorcount/corner_shop/front_door/interval"
    for topic, match in cases.items():
        assert parse_topic(topic) == match
    assert parse_topic("other/corner_shop/x/interval") is None
    assert parse_topic("doorcount/corner_shop/x/y/z/w") is None


def test_payloads_are_compact_versioned_json_and_decode_back() -> None:
    p = IntervalPayload(
        site="Shop", door="Front", start=1_748_944_800, seconds=60, entries=3, exits=1, revision=0
    )
    raw = p.encode()
    assert raw == (
        b'{"v":1,"site":"Shop","door":"Front","role":"entrance","start":1748944800,"seconds":60,'
        b'"entries":3,"exits":1,"revision":0}'
    )
    assert decode("interval", raw) == p
    split = p.model_copy(update={"visitors_in": 2, "staff_in": 1}).encode()
    assert split.endswith(b'"revision":0,"visitors_in":2,"staff_in":1}')
    assert decode("interval", split) == p.model_copy(update={"visitors_in": 2, "staff_in": 1})


def test_payloads_from_before_the_visitor_split_still_decode() -> None:
    old = (
        b'{"v":1,"site":"Shop","door":"Front","start":1748944800,"seconds":60,'
        b'"entries":3,"exits":1,"revision":0}'
    )
    p = decode("interval", old)
    assert isinstance(p, IntervalPayload)
    assert (p.role, p.entries, p.visitors_in, p.staff_in) == ("entrance", 3, None, None)
    assert p.encode() == old.replace(b'"door":"Front",', b'"door":"Front","role":"entrance",')


@pytest.mark.parametrize(
    ("kind", "raw", "message"),
    [
        ("interval", b'{"v":2}', "interval payload: v: Input should be 1"),
        ("interval", b"not json", "interval payload: payload: Invalid JSON"),
        (
            "crossing",
            b'{"v":1,"site":"s","door":"d","direction":"up","t":1,"kind":"single",'
            b'"confidence":1,"id":"x"}',
            "crossing payload: direction",
        ),
        (
            "interval",
            b'{"v":1,"site":"s","door":"d","start":0,"seconds":60,"entries":-1,'
            b'"exits":0,"revision":0}',
            "interval payload: entries",
        ),
        (
            "interval",
            b'{"v":1,"site":"s","door":"d","start":0,"seconds":60,"entries":1,'
            b'"exits":0,"revision":0,"extra":1}',
            "interval payload: extra",
        ),
        ("status", b"online", "carries no JSON payload"),
    ],
)
def test_bad_payloads_name_the_field(kind: str, raw: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        decode(kind, raw)  # type: ignore[arg-type]


def test_crossing_ids_are_deterministic() -> None:
    a = crossing_id("Front Door", 1_748_944_801.1581, "in")
    assert a == "front_door:1748944801158:in"
    assert a == crossing_id("Front Door", 1_748_944_801.15812, "in")
    assert a != crossing_id("Front Door", 1_748_944_801.1581, "out")
    CrossingPayload(
        site="s", door="Front Door", direction="in", t=1.0, kind="single", confidence=0.9, id=a
    )


def test_docs_embed_the_current_json_schemas() -> None:
    assert schemas_markdown() in DOCS.read_text(encoding="utf-8"), (
        "docs/mqtt.md is stale: run `python -m gateway.outputs.mqtt.payloads docs/mqtt.md`"
    )
    assert len(PAYLOADS) == 8


def test_settings_defaults_and_derived_values() -> None:
    s = MqttSettings()
    assert (s.broker_port, s.protocol, s.qos, s.prefix) == (1883, "5", 1, "doorcount")
    assert MqttSettings(tls=True).broker_port == 8883
    assert s.client_id_for("Corner Shop") == "doorcount-corner_shop"
    assert MqttSettings(prefix="/site/a/").prefix == "site/a"


def test_password_is_never_shown() -> None:
    s = MqttSettings(username="gw", password=SecretStr("hunter2"))
    assert "hunter2" not in repr(s)
    assert "hunter2" not in str(s.model_dump())


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"interval_seconds": 7}, "does not divide a day"),
        ({"prefix": "a/#"}, "not a usable topic prefix"),
        ({"ca_file": "ca.pem"}, "need tls = true"),
        ({"tls": True, "cert_file": "c.pem"}, "go together"),
        ({"password": "x"}, "needs a username"),
        ({"qos": 0}, "qos"),
        ({"protocol": "4"}, "protocol"),
        ({"outbox_policy": "drop_all"}, "outbox_policy"),
        ({"hostname": "x"}, "hostname"),
        ({"reconnect_min": 5, "reconnect_max": 1}, "larger than reconnect_max"),
    ],
)
def test_bad_settings_name_what_is_wrong(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MqttSettings.model_validate(values)


def test_occupancy_settings() -> None:
    s = OccupancySettings.model_validate({"reset_time": "03:00", "timezone": "Europe/Berlin"})
    assert s.reset_time == dt.time(3, 0)
    assert s.zone.key == "Europe/Berlin"
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Base'"):
        OccupancySettings(timezone="Mars/Base")
    with pytest.raises(ValidationError, match="idle_reset_hours"):
        OccupancySettings(idle_reset_hours=0)


def test_transactions_payload_is_absolute_and_validated() -> None:
    p = TransactionsPayload(
        site="Shop", till="Till 1", start=1_748_944_800, seconds=3600, transactions=12
    )
    raw = p.encode()
    assert raw == (
        b'{"v":1,"site":"Shop","till":"Till 1","zone":null,"start":1748944800,'
        b'"seconds":3600,"transactions":12,"revision":0}'
    )
    assert decode("transactions", raw) == p
    assert Topics("doorcount", "Shop").transactions("Till 1") == (
        "doorcount/shop/till/till_1/transactions"
    )
    bad = b'{"v":1,"site":"s","till":"t","start":0,"seconds":60,"transactions":-2}'
    with pytest.raises(PayloadError, match="transactions payload: transactions"):
        decode("transactions", bad)
    personal = (
        b'{"v":1,"site":"s","till":"t","start":0,"seconds":60,"transactions":1,"card":"4111"}'
    )
    with pytest.raises(PayloadError, match="transactions payload: card"):
        decode("transactions", personal)
