"""Coverage-guided fuzzing (atheris) of what hostile bytes reach first. Not run in CI.

    .venv/bin/pip install atheris
    .venv/bin/python scripts/fuzz_wire.py --target wire -atheris_runs=2000000
    .venv/bin/python scripts/fuzz_wire.py --target bridge --survey -max_total_time=120

Targets and the property each checks (anything else raised is a crash, saved by libFuzzer):
- wire: `decode_frame` raises only WireError; a decoded frame re-encodes to the same bytes;
- reader: `FrameReader.feed` in fuzzer-chosen chunks never raises, and every frame it returns
  survives encode_packet -> a fresh reader;
- session: `NodeSession.feed` (BLE notifications) never raises;
- bridge: the bridge's `interpret` of an MQTT message raises only PayloadError/PointError.
`--survey` (bridge) prints each distinct crash site once instead of stopping at the first.
The Hypothesis tests in tests/test_hostile.py, test_wire.py and test_framing.py are the CI part.
"""

from __future__ import annotations

import json
import sys
import traceback
from zoneinfo import ZoneInfo

import atheris

with atheris.instrument_imports():
    from gateway.outputs.bridge.points import PointError
    from gateway.outputs.bridge.schema import interpret
    from gateway.outputs.mqtt.payloads import PayloadError
    from gateway.protocol.framing import FrameReader, encode_packet
    from gateway.protocol.session import NodeSession
    from gateway.protocol.wire import WireError, decode_frame, encode_frame

UTC = ZoneInfo("UTC")
VALID = {  # one valid payload per topic: the fuzzer changes one value or sends raw bytes
    "doorcount/shop/front/interval": {
        "v": 1,
        "site": "shop",
        "door": "front",
        "start": 0,
        "seconds": 60,
        "entries": 1,
        "exits": 0,
        "revision": 0,
    },
    "doorcount/shop/front/crossing": {
        "v": 1,
        "site": "shop",
        "door": "front",
        "direction": "in",
        "t": 1.5,
        "kind": "single",
        "confidence": 0.5,
        "id": "front:1500:in",
    },
    "doorcount/shop/front/occupancy": {
        "v": 1,
        "site": "shop",
        "door": "front",
        "t": 1.5,
        "entries": 1,
        "exits": 0,
        "net": 1,
    },
    "doorcount/shop/occupancy": {
        "v": 1,
        "site": "shop",
        "t": 1.5,
        "occupancy": 1,
        "entries": 1,
        "exits": 0,
        "corrected": 0,
        "last_reset": None,
        "reset_reason": None,
    },
    "doorcount/shop/node/n1/health": {
        "v": 1,
        "site": "shop",
        "node": "n1",
        "door": None,
        "position": None,
        "connected": True,
        "rssi": -60,
        "battery_pct": 90,
        "battery_mv": 3000,
        "last_seen": 1.0,
        "reconnects": 0,
        "gaps": 0,
        "duplicates": 0,
        "ticks_dropped": 0,
        "beam_stuck": False,
    },
    "doorcount/shop/gateway/quality": {
        "v": 1,
        "site": "shop",
        "t": 1.5,
        "duplicates_dropped": 0,
        "seq_gaps": 0,
        "late_ticks": 0,
        "corrected_intervals": 0,
        "occupancy_corrected": 0,
        "outbox_depth": 0,
        "outbox_dropped": 0,
        "bad_frames": 0,
    },
}
TOPICS = [*VALID, "doorcount/shop/gateway/status"]


def wire(data: bytes) -> None:
    try:
        frame = decode_frame(data)
    except WireError:
        return
    if encode_frame(frame) != data:
        raise AssertionError(f"{frame!r} does not re-encode to its bytes {data.hex()}")


def reader(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    r = FrameReader()
    frames = []
    while fdp.remaining_bytes():
        frames += r.feed(fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 64)))
    again = FrameReader().feed(b"".join(encode_packet(f) for f in frames))
    if again != frames:
        raise AssertionError("frames read from junk do not survive a re-encode")


def session(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    s = NodeSession("n01")
    rx = 1_767_571_200.0
    while fdp.remaining_bytes():
        s.feed(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 80)), rx)
        rx += fdp.ConsumeIntInRange(0, 1000) / 100


def bridge(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    topic = TOPICS[fdp.ConsumeIntInRange(0, len(TOPICS) - 1)]
    how = fdp.ConsumeIntInRange(0, 3)
    if topic not in VALID or how == 0:
        payload = fdp.ConsumeBytes(fdp.remaining_bytes())
    else:
        body = dict(VALID[topic])
        key = sorted(body)[fdp.ConsumeIntInRange(0, len(body) - 1)]
        if how == 1:
            body[key] = fdp.ConsumeFloat()  # inf, nan, huge and tiny included
        elif how == 2:
            body[key] = fdp.ConsumeInt(fdp.ConsumeIntInRange(1, 12))
        else:
            body[key] = fdp.ConsumeUnicode(40)
        payload = json.dumps(body).encode()
    try:
        interpret(topic, payload, prefix="doorcount", received=1_767_571_200.0, tz=UTC)
    except (PayloadError, PointError):
        return
    except Exception as exc:
        if not SURVEY:
            raise
        where = traceback.extract_tb(exc.__traceback__)[-1]
        key = (type(exc).__name__, where.filename, where.lineno)
        if key not in SEEN:
            SEEN.add(key)
            print(
                f"SURVEY {key[0]} at {key[1]}:{key[2]}: {exc} <- {topic} {payload[:160]!r}",
                flush=True,
            )


SURVEY = False  # --survey: list each distinct crash site once and keep going
SEEN: set[tuple[str, str, int]] = set()
TARGETS = {"wire": wire, "reader": reader, "session": session, "bridge": bridge}


def main() -> None:
    argv = list(sys.argv)
    target = "wire"
    if "--target" in argv:
        at = argv.index("--target")
        target = argv[at + 1]
        del argv[at : at + 2]
    global SURVEY  # noqa: PLW0603 - set once, before fuzzing starts
    if "--survey" in argv:
        argv.remove("--survey")
        SURVEY = True
    atheris.Setup(argv, TARGETS[target])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
