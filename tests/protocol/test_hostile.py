"""Hostile input: every entry point takes garbage with a clear error, never crashes, and never
loses what was counted.

Already covered elsewhere (not repeated here): frame decoding of random and damaged bytes
(tests/protocol/test_wire.py), FrameReader resync over junk in random chunks
(tests/protocol/test_framing.py), garbage on a real pty (tests/sources/test_serial.py),
malformed MQTT through a live bridge to the dead-letter topic (tests/outputs/test_bridge.py,
tests/outputs/test_bridge_deploy.py), an unbonded or impostor BLE node
(tests/sources/test_ble_ingest.py). This module adds: the node session under garbage
notifications, damaged re-sends on the serial path, malformed traces and config files through
the CLI, and the bridge's decoder under arbitrary payloads.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.cli import main
from gateway.config import load_config
from gateway.errors import ConfigError
from gateway.outputs.bridge.batch import BatchWriter, Message
from gateway.outputs.bridge.store import LocalStore
from gateway.outputs.mqtt.payloads import IntervalPayload, Topics
from gateway.protocol.framing import FrameReader, encode_packet
from gateway.protocol.session import NodeSession
from gateway.protocol.trace import Tick, TraceError, TraceReader
from gateway.protocol.wire import (
    U16,
    U32,
    Hello,
    Identify,
    Resume,
    TickBatch,
    TimePing,
    WireError,
    WireTick,
    decode_frame,
)
from tests.support.wire import set_configs

NODE = "n01"
BOOT = 0xC0FFEE


def decodes(data: bytes) -> bool:
    try:
        decode_frame(data)
    except WireError:
        return False
    return True


def batches(count: int, per: int = 3) -> list[TickBatch]:
    """Consecutive batches of one boot: seq 0.., clock rising, beams alternating."""
    out = []
    for b in range(count):
        base = b * per
        ticks = tuple(
            WireTick((base + i) % 2, (base + i) % 4 < 2, 1000 * (base + i) + 7) for i in range(per)
        )
        out.append(TickBatch(BOOT, 0, base & U16, ticks))
    return out


def expected(sent: list[TickBatch]) -> list[tuple[int, int, int, bool]]:
    return [
        (b.base_seq + i, w.node_us, w.beam, w.broken) for b in sent for i, w in enumerate(b.ticks)
    ]


def got(ticks: list[Tick]) -> list[tuple[int, int, int, bool]]:
    assert all(t.node == NODE and t.boot == BOOT for t in ticks)
    return [(t.seq, t.node_us, t.beam, t.broken) for t in ticks]


# -- node session (BLE notifications): garbage between valid frames ---------------------------

garbage_notifications = st.binary(min_size=0, max_size=250).filter(lambda b: not decodes(b))
# Frames a node must never send, or that name another node: decoded, ignored, counted.
foreign_frames = st.one_of(
    st.builds(Resume, st.integers(1, U32), st.integers(0, U16)),
    st.builds(TimePing, st.integers(0, U32)),
    st.builds(Identify, st.integers(0, 255)),
    set_configs,
    st.builds(
        Hello,
        st.sampled_from(["n02", "rogue", "N01"]),
        st.integers(1, U32),
        st.just(3),
        st.just((1, 0, 0)),
    ),
)


@given(
    st.integers(1, 30),
    st.lists(st.one_of(garbage_notifications, foreign_frames.map(bytes)), max_size=40),
    st.randoms(use_true_random=False),
)
@settings(suppress_health_check=[HealthCheck.filter_too_much])
def test_session_keeps_every_tick_among_garbage_notifications(
    count: int, junk: list[bytes], rng: object
) -> None:
    import random

    assert isinstance(rng, random.Random)
    sent = batches(count)
    stream: list[tuple[bool, bytes]] = [(True, bytes(Hello(NODE, BOOT, 3, (1, 0, 0))))]
    stream += [(True, bytes(b)) for b in sent]
    for piece in junk:  # junk at random places, the valid frames keep their order
        stream.insert(rng.randint(1, len(stream)), (False, piece))
    session = NodeSession(NODE)
    out: list[Tick] = []
    for k, (_, data) in enumerate(stream):
        out += session.feed(data, rx=1_767_571_200.0 + k)
    assert got(out) == expected(sent)
    assert session.stats.ticks == 3 * count
    assert session.stats.duplicate_ticks == 0
    bad = sum(1 for valid, data in stream if not valid and not decodes(data))
    ignored = sum(1 for valid, data in stream if not valid and decodes(data))
    assert session.stats.decode_errors == bad
    assert session.stats.ignored_frames == ignored
    assert session.boot == BOOT  # a foreign HELLO never switched the boot


# -- serial path: damaged re-sends and junk never cost or add a tick ---------------------------


def damage(packet: bytes, rng: object, how: str) -> bytes:
    """A damaged copy of a framed packet (delimiters kept, so it costs only itself)."""
    import random

    assert isinstance(rng, random.Random)
    body = bytearray(packet[1:-1])
    if how == "flip":
        at = rng.randrange(len(body))
        body[at] = (body[at] ^ (1 << rng.randrange(8))) or 0x01
    elif how == "cut":
        del body[rng.randrange(1, len(body)) :]
    else:  # "noise": random non-zero bytes of the same length
        body = bytearray(rng.randint(1, 255) for _ in body)
    return b"\x00" + bytes(body) + b"\x00"


@given(
    st.integers(1, 60),
    st.lists(
        st.tuples(st.integers(0, 10**6), st.sampled_from(["flip", "cut", "noise"])), max_size=30
    ),
    st.lists(st.integers(1, 97), min_size=1, max_size=50),
    st.randoms(use_true_random=False),
)
def test_serial_path_counts_each_tick_once_despite_damaged_copies(
    count: int, damages: list[tuple[int, str]], sizes: list[int], rng: object
) -> None:
    sent = batches(count)
    packets = [encode_packet(b) for b in sent]
    stream: list[bytes] = list(packets)
    for pick, how in damages:  # a damaged copy of some packet, anywhere in the stream
        stream.insert(pick % (len(stream) + 1), damage(packets[pick % len(packets)], rng, how))
    raw = b"".join(stream)
    reader, session = FrameReader(), NodeSession(NODE)
    out: list[Tick] = []
    at = 0
    for k in range(len(raw)):
        if at >= len(raw):
            break
        size = sizes[k % len(sizes)]
        for frame in reader.feed(raw[at : at + size]):
            out += session.on_frame(frame, rx=1_767_571_200.0 + k)
        at += size
    # A "damaged" copy that still decodes is byte-identical to a sent packet (CRC-16 catches
    # every 1-bit flip): a re-send, passed on for the engine's duplicate filter; never news.
    assert sorted(set(got(out))) == sorted(expected(sent))
    assert len(out) == 3 * reader.stats.frames
    assert reader.stats.frames >= count


# -- traces into `doorcount eval` ----------------------------------------------------------------

BAD_LINES = [
    ("{not json", "not valid JSON"),
    ('["a", "list"]', "a line must be a JSON object"),
    ('{"type": 7}', "no string 'type'"),
    ('{"type": "tick", "node": "n01"}', "tick has no 'boot'"),
    ('{"type": "header", "format": "doorcount-trace", "version": 1}', "a second header"),
    (
        '{"type": "tick", "node": "n01", "boot": 1, "seq": "x", "node_us": 1, "beam": 0, '
        '"state": "broken", "rx": 1.0}',
        "seq",
    ),
    (
        '{"type": "tick", "node": "n01", "boot": 1, "seq": 1, "node_us": 1, "beam": 0, '
        '"state": "broken", "rx": NaN}',
        "rx",
    ),
    (
        '{"type": "tick", "node": "n01", "boot": 1, "seq": 1, "node_us": 1, "beam": 999, '
        '"state": "broken", "rx": 1.0}',
        "beam",
    ),
    (
        '{"type": "tick", "node": "n01", "boot": 1, "seq": 1, "node_us": 1, "beam": 0, '
        '"state": "ajar", "rx": 1.0}',
        "state",
    ),
    (
        '{"type": "truth", "door": "door1", "t": 1.0, "direction": "sideways", "kind": "single"}',
        "direction",
    ),
]


@pytest.fixture(scope="module")
def clean_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sensor_sim.cli import main as sim

    path = tmp_path_factory.mktemp("trace") / "busy.jsonl"
    assert (
        sim(["generate", "--scenario", "busy", "--duration", "3m", "--seed", "7", "-o", str(path)])
        == 0
    )
    return path


def eval_json(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, object]:
    assert main(["eval", str(path), "--json", *extra]) == 0
    result: dict[str, object] = json.loads(capsys.readouterr().out)
    return result


def test_each_bad_trace_line_stops_eval_with_its_number_or_is_skipped(
    clean_trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clean = eval_json(clean_trace, capsys)
    lines = clean_trace.read_bytes().splitlines()
    for k, (bad, says) in enumerate(BAD_LINES):
        where = 2 + (k * 37) % (len(lines) - 2)
        broken = tmp_path / f"bad{k}.jsonl"
        broken.write_bytes(b"\n".join([*lines[:where], bad.encode(), *lines[where:]]) + b"\n")
        assert main(["eval", str(broken), "--json"]) == 1, bad
        err = capsys.readouterr().err
        assert f"line {where + 1}:" in err, err
        assert says in err, err
        skipped = eval_json(broken, capsys, "--skip-bad")
        assert skipped["doors"] == clean["doors"], bad
        assert skipped["ticks"] == clean["ticks"]


def test_all_bad_lines_at_once_plus_binary_junk_are_skipped(
    clean_trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clean = eval_json(clean_trace, capsys)
    lines = clean_trace.read_bytes().splitlines()
    junk = [b.encode() for b, _ in BAD_LINES] + [b"\xff\xfe\x00binary", b"\x00" * 300]
    mixed = [lines[0]]
    for k, line in enumerate(lines[1:]):
        mixed.append(line)
        if k % 11 == 0:
            mixed.append(junk[k % len(junk)])
    broken = tmp_path / "mixed.jsonl"
    broken.write_bytes(b"\n".join(mixed) + b"\n")
    skipped = eval_json(broken, capsys, "--skip-bad")
    assert skipped["doors"] == clean["doors"]
    assert skipped["ticks"] == clean["ticks"]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (b"", "no header line"),
        (b"\xff\xfe", "not valid UTF-8"),
        (b'{"type": "tick"}\n', "first line must be the header"),
        (b'{"type": "header", "format": "other", "version": 1}\n', "format"),
    ],
)
def test_a_bad_header_is_a_clear_error(
    text: bytes, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(text)
    assert main(["eval", str(path), "--json"]) == 1
    err = capsys.readouterr().err
    assert "line 1:" in err
    assert says in err


@given(st.lists(st.binary(max_size=200) | st.text(max_size=200).map(str.encode), max_size=30))
def test_trace_reader_raises_only_trace_errors(junk: list[bytes]) -> None:
    header = json.dumps(
        {
            "type": "header",
            "format": "doorcount-trace",
            "version": 1,
            "site": "s",
            "doors": [
                {"door": "d", "outer": {"node": "a", "beam": 0}, "inner": {"node": "a", "beam": 1}}
            ],
        }
    )
    for skip_bad in (False, True):
        reader = TraceReader([header.encode(), *junk], skip_bad=skip_bad)
        try:
            records = list(reader)
        except TraceError as exc:
            failed: TraceError | None = exc
        else:
            failed = None
            assert len(records) + len(reader.bad) <= len(junk)
        if failed is not None:
            assert not skip_bad
            assert failed.line is not None
            assert failed.line >= 2


# -- config files: the CLI names the key, exits 1, starts nothing -----------------------------

BAD_RUN_CONFIGS = [
    ("[mqtt]\nport = 99999\n", "mqtt.port"),
    ("[mqtt]\nhost = 7\n", "mqtt.host"),
    ("[mqtt]\ncolour = 'red'\n", "mqtt.colour"),
    ("[mqtt]\nqos = 3\n", "mqtt.qos"),
    ("[occupancy]\nreset = 'sometimes'\n", "occupancy"),
    ("[source]\nspeed = -1\ntrace = 'x.jsonl'\n", "source.speed"),
    ("[mqtt\n", "not valid TOML"),
    ("\x00\x01", "not valid TOML"),
    ("[source]\n", "no tick source"),
    ("site = 'x'\ncolour = 'red'\n[source]\nkind = 'serial'\n", "colour"),
    (
        "site = 'x'\n[[nodes]]\nid = 'n 1'\nserial = 'serial:/dev/null'\n"
        "[source]\nkind = 'serial'\n",
        "nodes.0.id",
    ),
    ("site = 'x'\n[ble]\nbackend = 'bluez'\n[source]\nkind = 'ble'\n", "ble.backend"),
]


@pytest.mark.parametrize(("text", "says"), BAD_RUN_CONFIGS)
def test_doorcount_run_rejects_a_bad_config_before_starting_anything(
    text: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "doorcount.toml"
    config.write_text(text)
    before = set(tmp_path.iterdir())
    assert main(["run", "--config", str(config), "--drain-timeout", "0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("doorcount run: "), err
    assert says in err, err
    assert set(tmp_path.iterdir()) == before  # no outbox, no state: nothing started


def test_doorcount_run_with_a_missing_trace_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "doorcount.toml"
    config.write_text("[source]\ntrace = 'missing.jsonl'\n")
    assert main(["run", "--config", str(config), "--drain-timeout", "0"]) == 1
    assert "missing.jsonl" in capsys.readouterr().err


@given(st.text(max_size=300))
@settings(max_examples=200)
@example('site = "x"\n[mqtt]\nport = "1883"\n')
@example('site = "x"\n[[doors]]\nname = ""\n')
@example('site = "x"\nstate_dir = 5\n')
def test_load_config_raises_only_config_errors(text: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.toml"
        path.write_text(text, encoding="utf-8")
        try:
            load_config(path)
        except ConfigError as exc:
            message = str(exc)
        else:
            message = f"config {path}"
        assert message.startswith(f"config {path}"), message


# -- MQTT payloads into the bridge's decoder and store ----------------------------------------

UTC = ZoneInfo("UTC")
SHOP = Topics("doorcount", "shop")
T0 = 1_767_571_200


def good(k: int) -> Message:
    payload = IntervalPayload(
        site="shop", door="front", start=T0 + 60 * k, seconds=60, entries=k, exits=0, revision=0
    )
    return Message(SHOP.interval("front"), payload.encode(), received=T0 + 60.0 * k + 61)


TOPICS = [
    SHOP.interval("front"),
    SHOP.crossing("front"),
    SHOP.door_occupancy("front"),
    SHOP.site_occupancy(),
    SHOP.node_health("n1"),
    SHOP.quality(),
    SHOP.status(),
    "doorcount/shop/x/y/z",
    "elsewhere/topic",
]

SAFE_NUMBERS = st.one_of(
    st.integers(-(2**31), 2**31), st.floats(-1e9, 2e9, allow_nan=False, allow_infinity=False)
)
json_values = st.recursive(
    st.none() | st.booleans() | SAFE_NUMBERS | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid-looking payload of some kind with one key changed, dropped or added."""
    body = json.loads(good(1).payload)
    body.update(
        draw(
            st.dictionaries(
                st.sampled_from(
                    [
                        "v",
                        "site",
                        "door",
                        "t",
                        "start",
                        "seconds",
                        "entries",
                        "direction",
                        "kind",
                        "node",
                        "confidence",
                        "id",
                        "occupancy",
                        "x",
                    ]
                ),
                json_values,
                max_size=3,
            )
        )
    )
    for key in draw(st.lists(st.sampled_from(sorted(body)), max_size=2)):
        body.pop(key, None)
    return json.dumps(body).encode()


@given(
    st.lists(st.tuples(st.sampled_from(TOPICS), st.binary(max_size=120) | mutated()), max_size=25),
    st.randoms(use_true_random=False),
)
def test_bridge_stores_every_good_message_among_malformed_ones(
    bad: list[tuple[str, bytes]], rng: object
) -> None:
    import random

    assert isinstance(rng, random.Random)
    goods = [good(k) for k in range(5)]
    batch = list(goods)
    for topic, payload in bad:
        batch.insert(rng.randint(0, len(batch)), Message(topic, payload, received=T0 + 5.0))
    with tempfile.TemporaryDirectory() as d:
        store = LocalStore(Path(d) / "s.sqlite")
        try:
            outcome = BatchWriter(store, prefix="doorcount", tz=UTC).process(batch)
            rows = {p.t: p.fields for p in store.query("door_interval")}
        finally:
            store.close()
    assert all(d.reason for d in outcome.dead)
    assert outcome.stored + outcome.stale + len(outcome.dead) == len(batch)
    for k in range(5):  # a mutated copy may overwrite a good interval; never remove it
        assert float(T0 + 60 * k) in rows


POISON = [  # values the models accept but the schema/encoder/store then fail on
    (
        "crossing",
        '{"v":1,"site":"shop","door":"front","direction":"in","t":1e400,'
        '"kind":"single","confidence":0.5,"id":"x"}',
    ),
    (
        "crossing",
        '{"v":1,"site":"shop","door":"front","direction":"in","t":NaN,'
        '"kind":"single","confidence":0.5,"id":"x"}',
    ),
    (
        "crossing",
        '{"v":1,"site":"shop","door":"front","direction":"in","t":1e300,'
        '"kind":"single","confidence":0.5,"id":"x"}',
    ),
    (
        "interval",
        '{"v":1,"site":"shop","door":"front","start":99999999999999999,"seconds":60,'
        '"entries":1,"exits":0,"revision":0}',
    ),
    (
        "interval",
        '{"v":1,"site":"shop","door":"front","start":-99999999999999,"seconds":60,'
        '"entries":1,"exits":0,"revision":0}',
    ),
    (
        "interval",
        '{"v":1,"site":"shop","door":"","start":0,"seconds":60,"entries":1,"exits":0,"revision":0}',
    ),  # slug("") raises ValueError
]


@pytest.mark.parametrize(("kind", "payload"), POISON)
def test_out_of_range_numbers_are_dead_letters_not_a_crash(kind: str, payload: str) -> None:
    topic = SHOP.crossing("front") if kind == "crossing" else SHOP.interval("front")
    with tempfile.TemporaryDirectory() as d:
        store = LocalStore(Path(d) / "s.sqlite")
        try:
            outcome = BatchWriter(store, prefix="doorcount", tz=UTC).process(
                [good(0), Message(topic, payload.encode(), received=T0 + 5.0), good(1)]
            )
        finally:
            store.close()
    assert outcome.stored == 2
    assert len(outcome.dead) == 1


def test_poison_cases_are_rejected_by_the_models() -> None:
    """Infinite, NaN, out-of-range times and empty names fail validation, with the field."""
    from gateway.outputs.mqtt.payloads import PayloadError, decode

    for kind, payload in POISON:
        with pytest.raises(PayloadError):
            decode(kind, payload)  # type: ignore[arg-type]
