"""The bridge: schema and line protocol, batches, dead letters, settings, and real servers."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from gateway.errors import ConfigError
from gateway.outputs.bridge.batch import BatchWriter, Message
from gateway.outputs.bridge.points import Point, PointError, encode
from gateway.outputs.bridge.schema import interpret
from gateway.outputs.bridge.service import Bridge, subscriptions
from gateway.outputs.bridge.settings import BridgeSettings, load_settings
from gateway.outputs.bridge.sinks import InfluxV1Sink, SinkUnavailableError, open_sink
from gateway.outputs.bridge.store import LocalStore
from gateway.outputs.mqtt.payloads import (
    CrossingPayload,
    DoorOccupancyPayload,
    IntervalPayload,
    NodeHealthPayload,
    PayloadError,
    QualityPayload,
    SiteOccupancyPayload,
    TransactionsPayload,
)
from tests.support.bridge import SHOP, T0, interval
from tests.support.mqtt import Collector, Mosquitto
from tests.support.tsdb import Influx1, wait_until

UTC = ZoneInfo("UTC")


def lines(
    topic: str, payload: bytes | str, received: float = T0 + 5.5, tz: ZoneInfo = UTC
) -> list[str]:
    raw = payload.encode() if isinstance(payload, str) else payload
    decoded = interpret(topic, raw, prefix="doorcount", received=received, tz=tz)
    return encode(list(decoded.points)).splitlines()


# -- schema: one golden line set per message kind ----------------------------------------------


def test_interval_lines() -> None:
    assert lines(SHOP.interval("Front door"), interval(T0 + 9 * 3600, 3, 1, 2).payload) == [
        "door_interval,door=Front\\ door,site=Corner\\ Shop entries=3i,exits=1i,revision=2i,"
        'role="entrance",seconds=60i 1767603600000000000',
        "hour_of_week,door=Front\\ door,hour=09,site=Corner\\ Shop,weekday=1-Mon "
        "entries=3i,exits=1i 1767603600000000000",
    ]


def till(count: int, revision: int = 0, zone: str | None = None) -> Message:
    payload = TransactionsPayload(
        site="Corner Shop",
        till="Till 1",
        zone=zone,
        start=T0 + 9 * 3600,
        seconds=3600,
        transactions=count,
        revision=revision,
    )
    return Message(SHOP.transactions("Till 1"), payload.encode(), received=T0)


def test_transactions_lines() -> None:
    assert lines(SHOP.transactions("Till 1"), till(12, zone="Food hall").payload) == [
        "till_transactions,site=Corner\\ Shop,till=Till\\ 1,zone=Food\\ hall "
        "revision=0i,seconds=3600i,transactions=12i 1767603600000000000",
    ]
    assert "zone=(site)" in lines(SHOP.transactions("Till 1"), till(3).payload)[0]
    with pytest.raises(PayloadError, match="does not belong"):
        lines(SHOP.transactions("Till 2"), till(3).payload)


def test_transactions_corrections_replace_and_never_go_back(store: LocalStore) -> None:
    writer = BatchWriter(store, prefix="doorcount", tz=UTC)
    outcome = writer.process([till(12), till(12), till(14, revision=1), till(12)])
    assert (outcome.stored, outcome.stale) == (1, 3)
    assert writer.process([till(12)]).stale == 1
    assert [p.fields["transactions"] for p in store.query("till_transactions")] == [14]


def test_hour_of_week_uses_the_site_time_zone() -> None:
    berlin = lines(
        SHOP.interval("Front door"), interval(T0 - 1800).payload, tz=ZoneInfo("Europe/Berlin")
    )
    assert "hour=00" in berlin[1]
    assert "weekday=1-Mon" in berlin[1]


def test_crossing_line() -> None:
    payload = CrossingPayload(
        site="Corner Shop",
        door="Front door",
        direction="in",
        t=T0 + 1.2345678,
        kind="single",
        confidence=0.9,
        id="x",
    )
    assert lines(SHOP.crossing("Front door"), payload.encode()) == [
        "crossing,direction=in,door=Front\\ door,site=Corner\\ Shop confidence=0.9,count=1i,"
        'kind="single" 1767571201234568000'
    ]


def test_occupancy_lines() -> None:
    door = DoorOccupancyPayload(
        site="Corner Shop", door="Back", t=T0 + 2.5, entries=4, exits=6, net=-2
    )
    assert lines(SHOP.door_occupancy("Back"), door.encode()) == [
        "door_occupancy,door=Back,site=Corner\\ Shop entries=4i,exits=6i,net=-2i "
        "1767571202500000000"
    ]
    site = SiteOccupancyPayload(
        site="Corner Shop",
        t=T0 + 3,
        occupancy=7,
        entries=9,
        exits=2,
        corrected=1,
        last_reset=T0 - 100.0,
        reset_reason='daily "3am"',
    )
    assert lines(SHOP.site_occupancy(), site.encode()) == [
        "site_occupancy,site=Corner\\ Shop corrected=1i,entries=9i,exits=2i,"
        'last_reset=1767571100.0,occupancy=7i,reset_reason="daily \\"3am\\"" 1767571203000000000'
    ]


def test_health_quality_and_status_lines() -> None:
    health = NodeHealthPayload(
        site="Corner Shop",
        node="n1",
        door=None,
        position=None,
        connected=False,
        rssi=None,
        battery_pct=40,
        battery_mv=None,
        last_seen=None,
        reconnects=2,
        gaps=1,
        duplicates=0,
        ticks_dropped=0,
        beam_stuck=True,
    )
    assert lines(SHOP.node_health("n1"), health.encode()) == [  # stamped when received
        "node_health,node=n1,site=Corner\\ Shop battery_pct=40i,beam_stuck=1i,connected=0i,"
        "duplicates=0i,gaps=1i,reconnects=2i,ticks_dropped=0i 1767571205500000000"
    ]
    quality = QualityPayload(
        site="Corner Shop",
        t=T0,
        duplicates_dropped=1,
        seq_gaps=2,
        late_ticks=3,
        corrected_intervals=4,
        occupancy_corrected=5,
        outbox_depth=6,
        outbox_dropped=7,
        bad_frames=8,
    )
    assert lines(SHOP.quality(), quality.encode()) == [
        "gateway_quality,site=Corner\\ Shop bad_frames=8i,corrected_intervals=4i,"
        "duplicates_dropped=1i,late_ticks=3i,occupancy_corrected=5i,outbox_depth=6i,"
        "outbox_dropped=7i,seq_gaps=2i 1767571200000000000"
    ]
    assert lines(SHOP.status(), "offline") == [
        "gateway_status,site=corner_shop online=0i 1767571205500000000"
    ]


def test_no_field_is_an_influxql_keyword() -> None:
    keywords = {"in", "select", "from", "where", "time", "group", "by", "order", "limit", "key"}
    every = lines(SHOP.interval("Front door"), interval().payload)
    for line in every:
        fields = line.split(" ")[-2]
        assert not {f.split("=")[0] for f in fields.split(",")} & keywords


def test_points_refuse_what_line_protocol_cannot_carry() -> None:
    with pytest.raises(PointError, match="line break"):
        Point.make("m", {"site": "a\nb"}, {"x": 1}, 0).to_line()
    with pytest.raises(PointError, match="finite"):
        Point.make("m", {}, {"x": math.nan}, 0).to_line()
    with pytest.raises(PointError, match="at least one field"):
        Point.make("m", {}, {"x": None}, 0)
    assert Point.make("m", {"k": "a,b=c d"}, {"s": 'q"\\'}, 5).to_line() == (
        'm,k=a\\,b\\=c\\ d s="q\\"\\\\" 5'
    )


# -- batches: dead letters, stale revisions, overwrite --------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalStore]:
    s = LocalStore(tmp_path / "series.sqlite")
    yield s
    s.close()


def test_unusable_messages_become_dead_letters_with_a_reason(store: LocalStore) -> None:
    writer = BatchWriter(store, prefix="doorcount", tz=UTC)
    good = interval()
    elsewhere = IntervalPayload(
        site="Other", door="Front door", start=T0, seconds=60, entries=1, exits=0, revision=0
    )
    bad = {
        "doorcount/corner_shop/front_door/interval": b"{not json",
        "doorcount/corner_shop/back/interval": json.dumps(
            {**json.loads(good.payload), "v": 2}
        ).encode(),
        "doorcount/corner_shop/front_door/occupancy": json.dumps(
            {
                "v": 1,
                "site": "Corner Shop",
                "door": "Front door",
                "t": 1.0,
                "entries": 1,
                "exits": 0,
                "net": 1,
                "colour": "red",
            }
        ).encode(),
        "doorcount/corner_shop/side/interval": elsewhere.encode(),  # the topic lies
        "doorcount/corner_shop/gateway/status": b"maybe",
        "doorcount/corner_shop/x/y/z/w": b"{}",
    }
    outcome = writer.process([good, *(Message(t, p) for t, p in bad.items())])
    reasons = {d.message.topic: d.reason for d in outcome.dead}
    assert outcome.stored == 1
    assert set(reasons) == set(bad)
    assert "Invalid JSON" in reasons["doorcount/corner_shop/front_door/interval"]
    assert "interval payload: v:" in reasons["doorcount/corner_shop/back/interval"]
    assert "colour" in reasons["doorcount/corner_shop/front_door/occupancy"]
    assert "'Other'" in reasons["doorcount/corner_shop/side/interval"]
    assert "online" in reasons["doorcount/corner_shop/gateway/status"]
    assert "not part of" in reasons["doorcount/corner_shop/x/y/z/w"]
    assert [p.fields for p in store.query("door_interval")] == [
        {"entries": 3, "exits": 1, "revision": 0, "role": "entrance", "seconds": 60}
    ]


def test_a_stale_revision_never_undoes_a_correction(store: LocalStore) -> None:
    writer = BatchWriter(store, prefix="doorcount", tz=UTC)
    outcome = writer.process(
        [
            interval(revision=0, entries=3),
            interval(revision=1, entries=5),
            interval(revision=0, entries=3),
        ]
    )
    assert (outcome.stored, outcome.stale) == (1, 2)
    assert writer.process([interval(revision=0, entries=3)]).stale == 1  # later batch
    assert store.query("door_interval")[0].fields["entries"] == 5
    assert writer.process([interval(revision=2, entries=6)]).stored == 1
    assert [p.fields["entries"] for p in store.query("door_interval")] == [6]


def test_store_overwrites_like_influxdb(store: LocalStore) -> None:
    a = Point.make("m", {"site": "s"}, {"x": 1, "y": 2}, 10)
    store.write([a, Point.make("m", {"site": "s"}, {"x": 1}, 20)])
    store.write([Point.make("m", {"site": "s"}, {"x": 7}, 10)])  # same identity: field merge
    got = [(p.time_ns, p.fields) for p in store.query("m")]
    assert got == [(10, {"x": 7, "y": 2}), (20, {"x": 1})]
    assert store.query("m", start_ns=15) == store.query("m")[1:]
    assert store.span("m") == (10, 20)


def test_store_in_an_unwritable_place_is_a_typed_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SinkUnavailableError, match="local store"):
        LocalStore(blocker / "series.sqlite")


# -- settings ---------------------------------------------------------------------------------


def test_settings_keep_the_token_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOORCOUNT_BRIDGE_INFLUX_TOKEN", "s3cr3t-token")
    monkeypatch.setenv("DOORCOUNT_BRIDGE_INFLUX_URL", "http://influx:8086/")
    settings = load_settings(batch_size=20)
    assert settings.token() == "s3cr3t-token"
    assert settings.influx_url == "http://influx:8086"
    assert "s3cr3t" not in repr(settings)
    assert "s3cr3t" not in str(settings.model_dump())
    assert isinstance(settings.influx_token, SecretStr)
    sink = open_sink(settings)
    assert "s3cr3t" not in sink.describe()
    sink.close()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"influx_url": "influx:8086"}, "influx_url"),
        ({"batch_size": 0}, "batch_size"),
        ({"prefix": "a/b"}, "prefix"),
        ({"dead_letter_topic": "x/#"}, "dead_letter_topic"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"influx_api": "v1", "influx_token": "no-colon"}, "username:password"),
        ({"retry_initial": 5, "retry_max": 1}, "retry_max"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_settings_are_config_errors(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load_settings(**overrides)
    assert "no-colon" not in str(info.value)


def test_subscriptions_are_disjoint_and_shareable() -> None:
    plain = subscriptions(BridgeSettings())
    assert len(plain) == len(set(plain)) == 11
    assert all(t.startswith("doorcount/") for t in plain)
    # zone occupancy is one level deeper than a door's: it needs its own filter
    assert "doorcount/+/zone/+/occupancy" in plain
    assert {"doorcount/+/visits", "doorcount/+/zone/+/visits"} <= set(plain)
    shared = subscriptions(BridgeSettings(share_group="bridges"))
    assert shared == [f"$share/bridges/{t}" for t in plain]


# -- with a real broker and real servers -----------------------------------------------------


class Running:
    """A Bridge on its own thread, stopped and joined on exit."""

    def __init__(self, settings: BridgeSettings, sink: object | None = None) -> None:
        self.bridge = Bridge(settings, sink or open_sink(settings))  # type: ignore[arg-type]
        self.thread = threading.Thread(target=self.bridge.run, daemon=True)

    def __enter__(self) -> Bridge:
        self.thread.start()
        wait_until(lambda: self.bridge.stats.subscribed > 0, what="bridge subscribed")
        return self.bridge

    def __exit__(self, *exc: object) -> None:
        self.bridge.stop()
        self.thread.join(20)
        assert not self.thread.is_alive()


def publish(broker: Mosquitto, messages: list[Message]) -> None:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="test-gateway")
    client.connect(broker.host, broker.port)
    client.loop_start()
    for m in messages:
        client.publish(m.topic, m.payload, qos=1).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def test_bridge_dead_letters_and_keeps_going(mosquitto: Mosquitto, tmp_path: Path) -> None:
    settings = BridgeSettings(
        mqtt_port=mosquitto.port, store_path=tmp_path / "s.sqlite", linger=0.05
    )
    letters = Collector(mosquitto, settings.dead_letter_topic, client_id="dl-reader")
    try:
        with Running(settings) as bridge:
            publish(
                mosquitto,
                [
                    interval(T0),
                    Message(SHOP.interval("Back"), b"\xff\xfe"),
                    Message(SHOP.quality(), b'{"v":1}'),
                    interval(T0 + 60),
                ],
            )
            wait_until(
                lambda: bridge.stats.stored == 2 and bridge.stats.dead == 2, what="messages handled"
            )
        got = letters.wait_for(lambda m: len(m) == 2)
    finally:
        letters.close()
    bodies = {json.loads(m.payload)["topic"]: json.loads(m.payload) for m in got}
    assert bodies[SHOP.interval("Back")]["payload_hex"] == "fffe"
    assert "Invalid JSON" in bodies[SHOP.interval("Back")]["reason"]
    assert "site" in bodies[SHOP.quality()]["reason"]
    check = LocalStore(tmp_path / "s.sqlite")
    assert len(check.query("door_interval")) == 2
    check.close()


def test_shared_subscription_splits_the_load(mosquitto: Mosquitto, tmp_path: Path) -> None:
    common = {
        "mqtt_port": mosquitto.port,
        "share_group": "bridges",
        "linger": 0.05,
        "store_path": tmp_path / "s.sqlite",
    }
    one = BridgeSettings(client_id="bridge-a", **common)  # type: ignore[arg-type]
    two = BridgeSettings(client_id="bridge-b", **common)  # type: ignore[arg-type]
    messages = [interval(T0 + 60 * i, entries=i) for i in range(200)]
    with Running(one) as a, Running(two) as b:
        publish(mosquitto, messages)
        wait_until(lambda: a.stats.stored + b.stats.stored == 200, what="all stored")
        assert a.stats.received > 0
        assert b.stats.received > 0
    check = LocalStore(tmp_path / "s.sqlite")
    assert [p.fields["entries"] for p in check.query("door_interval")] == list(range(200))
    check.close()


def test_bridge_rides_out_a_broker_restart(mosquitto: Mosquitto, tmp_path: Path) -> None:
    settings = BridgeSettings(
        mqtt_port=mosquitto.port,
        store_path=tmp_path / "s.sqlite",
        linger=0.05,
        retry_initial=0.1,
        retry_max=0.5,
    )
    with Running(settings) as bridge:
        publish(mosquitto, [interval(T0)])
        wait_until(lambda: bridge.stats.stored == 1)
        mosquitto.stop()
        mosquitto.start()
        wait_until(lambda: bridge.stats.subscribed >= 2, what="reconnected")
        publish(mosquitto, [interval(T0 + 60)])
        wait_until(lambda: bridge.stats.stored == 2)


def test_v1_sink_isolates_a_rejected_message(influxdb1: Influx1) -> None:
    influxdb1.create_database("doorcount")
    # A field type conflict: "confidence" already holds strings, the bridge writes floats.
    influxdb1.write(
        "doorcount",
        f'crossing,site=Corner\\ Shop,door=Back,direction=in confidence="x" {T0}000000000\n',
    )
    sink = InfluxV1Sink(influxdb1.url, "", "doorcount", timeout=10)
    writer = BatchWriter(sink, prefix="doorcount", tz=UTC)
    crossing = CrossingPayload(
        site="Corner Shop",
        door="Back",
        direction="in",
        t=T0 + 1.0,
        kind="single",
        confidence=0.8,
        id="c",
    )
    batch = [interval(T0 + 60 * i) for i in range(5)]
    batch.insert(3, Message(SHOP.crossing("Back"), crossing.encode()))
    outcome = writer.process(batch)
    assert outcome.stored == 5
    (dead,) = outcome.dead
    assert dead.message.topic == SHOP.crossing("Back")
    assert "rejected by the database" in dead.reason
    assert "conflict" in dead.reason
    (series,) = influxdb1.query('SELECT count("entries") FROM "door_interval"', db="doorcount")
    assert series["values"][0][1] == 5


def test_sink_descriptions_hide_credentials() -> None:
    sink = InfluxV1Sink("http://user:pw@influx:8086", "u:secret", "db", timeout=1)
    assert sink.describe() == "InfluxDB v1 /write at http://influx:8086, database 'db'"


def test_v1_sink_down_is_unavailable_not_rejected(tmp_path: Path) -> None:
    from tests.support.mqtt import free_port

    sink = InfluxV1Sink(f"http://127.0.0.1:{free_port()}", "u:p", "db/rp", timeout=2)
    with pytest.raises(SinkUnavailableError):
        sink.write([Point.make("m", {}, {"x": 1}, 0)])


@pytest.mark.parametrize("level", ["site", "door"])
def test_a_payload_under_another_name_s_topic_is_refused_naming_the_level(level: str) -> None:
    message = interval(door="Front door")
    topic = (
        message.topic.replace("corner_shop", "other_shop")
        if level == "site"
        else message.topic.replace("front_door", "back")
    )
    with pytest.raises(PayloadError, match=f"payload {level} .* does not belong under topic"):
        lines(topic, message.payload)
