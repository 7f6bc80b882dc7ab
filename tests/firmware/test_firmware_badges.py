"""Staff badges in the firmware: the keyed rotating identifiers and the BADGE_SEEN frames are
the same bytes on MicroPython (the unix port) and CPython, and the gateway decodes them.

The scenario resolves Eddystone-EID identifiers with `badgekey.Resolver` (registered keys,
an unregistered one, a stale minute), feeds the sightings to the core around beam episodes
(a crossing with a badge, one without, a badge heard with no crossing, a weak badge) and prints
every identifier and frame.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from gateway.core.badges import eid
from gateway.protocol.wire import BADGE_FIRMWARE, BadgeSeen, decode_frame
from sensor_sim.twin import TwinNode
from tests.firmware.test_firmware_micropython import FIRMWARE, micropython, run

SCENARIO = r"""
import doorcore
import badgekey

keys = [bytes(range(16)), b"staff-badge-key!"]
for key in keys:
    for slot in (0, 1, 29_000_000, 0xFFFFFFFF):
        print("eid", "".join("%02x" % b for b in badgekey.eid(key, slot)), slot)
print("hmac", "".join("%02x" % b for b in badgekey.hmac_sha256(b"k" * 80, b"message")))

resolver = badgekey.Resolver(keys)
now = 1_740_000_000
print("match", resolver.match(badgekey.eid(keys[1], now // 60), now))
print("match-slack", resolver.match(badgekey.eid(keys[0], now // 60 - 2), now))
print("match-stale", resolver.match(badgekey.eid(keys[0], now // 60 - 3), now))
print("match-unregistered", resolver.match(badgekey.eid(b"x" * 16, now // 60), now))
print("which", resolver.which(badgekey.eid(keys[1], now // 60), now), resolver.which(b"x" * 8, now))
five = badgekey.eid(keys[0], 5)
print("service", badgekey.eid_from_service_data(b"\x30\xf4" + five) == five)
adv = b"\x02\x01\x06" + b"\x03\x03\xaa\xfe" + b"\x0d\x16\xaa\xfe\x30\xf4" + five
print("adv", badgekey.eid_from_adv(adv) == five, badgekey.eid_from_adv(b"\x02\x01\x06"))

node = doorcore.Node("badge-node", 0xBADCAFE, (0, 1), doorcore.BADGE_FIRMWARE, 64, (), True)


def cross(t, ms):
    node.edge(0, True, t)
    node.edge(1, True, t + 100_000)
    node.edge(0, False, t + ms * 1000 - 100_000)
    node.edge(1, False, t + ms * 1000)
    node.release(t + ms * 1000 + 10_000)


def drain(now):
    while True:
        f = node.take_badge(now)
        if f is None:
            return
        print("badge", "".join("%02x" % b for b in f))


node.badge_heard(1_800_000, -52)  # a staff member walks up to the door
cross(2_000_000, 600)
drain(3_200_000)
cross(10_000_000, 700)  # a visitor, no badge
drain(11_300_000)
node.badge_heard(20_000_000, -50)  # a badge passes by, nobody crosses
node.badge_heard(40_900_000, -70)  # too weak: beyond the door
cross(41_000_000, 500)
drain(42_100_000)
node.badge_heard((1 << 32) + 800_000, -51)  # across the u32 clock wrap
cross((1 << 32) + 1_000_000, 400)
drain((1 << 32) + 2_000_000)
node.badge_heard((1 << 32) + 5_000_000, -49, 0)  # two badge wearers walk in together
node.badge_heard((1 << 32) + 5_100_000, -45, 1)
node.badge_heard((1 << 32) + 5_150_000, -47, 0)
cross((1 << 32) + 5_200_000, 500)
drain((1 << 32) + 6_300_000)
print("episodes", node.badge_episodes, node.badge_lost)
"""


def _lines(tmp_path: Path) -> tuple[list[str], list[str]]:
    script = tmp_path / "badges.py"
    script.write_text(SCENARIO, encoding="utf-8")
    on_mpy = run([micropython(), str(script)], tmp_path, {"MICROPYPATH": str(FIRMWARE)})
    on_cpy = run([sys.executable, str(script)], tmp_path, {"PYTHONPATH": str(FIRMWARE)})
    return on_mpy, on_cpy


def test_badge_identifiers_and_frames_are_the_same_bytes_on_micropython(tmp_path: Path) -> None:
    on_mpy, on_cpy = _lines(tmp_path)
    assert on_mpy == on_cpy
    fields = [line.split() for line in on_cpy]
    eids = [(bytes.fromhex(f[1]), int(f[2])) for f in fields if f[0] == "eid"]
    keys = [bytes(range(16)), b"staff-badge-key!"]
    assert [e for e, _ in eids] == [eid(k, s) for k in keys for _, s in eids[:4]]
    answers = {
        f[0]: " ".join(f[1:]) for f in fields if f[0].startswith(("match", "serv", "adv", "which"))
    }
    assert answers == {
        "match": "True",
        "match-slack": "True",
        "match-stale": "False",
        "match-unregistered": "False",
        "service": "True",
        "adv": "True None",
        "which": "1 None",
    }
    frames = [bytes.fromhex(f[1]) for f in fields if f[0] == "badge"]
    decoded = [decode_frame(data) for data in frames]
    assert [bytes(frame) for frame in decoded] == frames
    assert all(isinstance(f, BadgeSeen) for f in decoded)
    seen = [f for f in decoded if isinstance(f, BadgeSeen)]
    # the badge crossing, the one across the wrap and the two badges walking in together
    # (one frame each, strongest first); not the visitor, the passing badge, nor the weak one
    assert [(f.clock_us, f.duration_ms, f.rssi_dbm) for f in seen] == [
        (2_000_000, 600, -52),
        ((1 << 32) + 1_000_000, 400, -51),
        ((1 << 32) + 5_200_000, 500, -45),
        ((1 << 32) + 5_200_000, 500, -47),
    ]
    assert fields[-1] == ["episodes", "3", "0"]


def test_hmac_matches_the_standard_library(tmp_path: Path) -> None:
    import hmac
    from hashlib import sha256

    _, on_cpy = _lines(tmp_path)
    line = next(f.split()[1] for f in on_cpy if f.startswith("hmac"))
    assert line == hmac.new(b"k" * 80, b"message", sha256).hexdigest()


# -- when a badge belongs to an episode (the firmware core, through its CPython twin) --------

MS = 1000


def _badge_node() -> TwinNode:
    return TwinNode("door", (0, 1), 0xB0D6E, firmware=BADGE_FIRMWARE, badge_keys=[bytes(16)])


def _walk(node: TwinNode, t: int, ms: int) -> None:
    """Someone crosses both beams from `t` (node µs), beams broken `ms` in all."""
    node.edge(0, True, t)
    node.edge(1, True, t + ms * MS // 3)
    node.edge(0, False, t + 2 * ms * MS // 3)
    node.edge(1, False, t + ms * MS)


def _seen(node: TwinNode, now: int) -> list[BadgeSeen]:
    node.advance(now)
    out = []
    while (frame := node.take_badge()) is not None:
        seen = decode_frame(frame)
        assert isinstance(seen, BadgeSeen)
        out.append(seen)
    return out


def test_a_brisk_badge_wearer_heard_only_just_after_the_beams_is_staff() -> None:
    # 0.1 s in the beams at 1.3 m/s; the node's scan caught the badge 0.4 s later only
    node = _badge_node()
    _walk(node, 1_000 * MS, 100)
    node.badge_heard(-47, 1_500 * MS)
    assert [(s.clock_us, s.rssi_dbm) for s in _seen(node, 2_000 * MS)] == [(1_000 * MS, -47)]


def test_a_badge_heard_well_after_the_beams_cleared_is_not_that_crossing() -> None:
    node = _badge_node()
    _walk(node, 1_000 * MS, 300)
    node.badge_heard(-47, 1_900 * MS)  # 0.6 s after: someone else's badge, coming closer
    assert _seen(node, 3_000 * MS) == []


def test_a_badge_walking_away_does_not_push_out_the_sightings_of_its_crossing() -> None:
    # The glue did not release the ended episode before the badge was heard again and
    # again as its wearer walked on (no connection event, a scan burst): the sightings
    # during the crossing still make it staff.
    node = _badge_node()
    node.badge_heard(-44, 990 * MS)
    _walk(node, 1_000 * MS, 200)
    for k in range(40):
        node.badge_heard(-50, 1_300 * MS + k * 100 * MS)
    assert [(s.clock_us, s.rssi_dbm) for s in _seen(node, 6_000 * MS)] == [(1_000 * MS, -44)]


def test_a_badge_passing_at_two_metres_is_below_the_default_threshold() -> None:
    # -50 dBm at 1 m, exponent 2: -56 dBm at 2 m (firmware_notes/power.md)
    node = _badge_node()
    node.badge_heard(-56, 900 * MS)
    _walk(node, 1_000 * MS, 300)
    assert _seen(node, 2_000 * MS) == []


def _path_loss_dbm(metres: float) -> int:
    """The simulator's mean RSSI (-50 dBm at 1 m, exponent 2), no shadowing."""
    return round(-50.0 - 20.0 * math.log10(max(metres, 0.3)))


def test_a_visitor_a_step_and_a_half_ahead_of_a_badge_wearer_stays_a_visitor() -> None:
    # Both walk in at 1.3 m/s, 2 m apart; the node hears the badge 4 times a second while
    # it comes and goes (0.4 m from the node at its closest).
    node = _badge_node()
    wearer = 10_000 * MS  # the wearer's middle between the beams
    heard = [wearer + k * 250 * MS for k in range(-24, 13)]
    crossings = [(wearer - 1_650 * MS, 300), (wearer - 150 * MS, 300)]  # visitor, wearer
    events = sorted(
        [(t, "walk", ms) for t, ms in crossings]
        + [(t, "hear", _path_loss_dbm(0.4 + 1.3 * abs(t - wearer) / 1e6)) for t in heard]
    )
    for t, what, value in events:
        if what == "walk":
            _walk(node, t, value)
        else:
            node.badge_heard(value, max(t, node.now_us))
    seen = _seen(node, wearer + 5_000 * MS)
    assert [(s.clock_us, s.rssi_dbm) for s in seen] == [(wearer - 150 * MS, -42)]


def _walk_with_badge(node: TwinNode, wearer: int, others: list[int], extra: dict[int, int]) -> None:
    """The wearer's middle between the beams at `wearer` (node µs), visitors' at `others`,
    each 0.3 s in the beams; the node hears the badge 4 times a second at the simulator's
    mean RSSI, or at `extra[t]` for the readings listed there (shadowing)."""
    heard = [wearer + k * 250 * MS for k in range(-24, 13)]
    events = sorted(
        [(t - 150 * MS, "walk", 300) for t in [wearer, *others]]
        + [
            (t, "hear", extra.get(t, _path_loss_dbm(0.4 + 1.3 * abs(t - wearer) / 1e6)))
            for t in heard
        ]
    )
    for t, what, value in events:
        if what == "walk":
            _walk(node, t, value)
        else:
            node.badge_heard(value, max(t, node.now_us))


def test_a_visitor_following_a_badge_wearer_stays_a_visitor() -> None:
    # 1.25 s behind; the wearer's badge, walking on, is read once 3 dB above its mean (-53 dBm
    # at 1.375 m) while the visitor is in the doorway
    node = _badge_node()
    wearer = 10_000 * MS
    _walk_with_badge(node, wearer, [wearer + 1_250 * MS], {wearer + 750 * MS: -50})
    seen = _seen(node, wearer + 5_000 * MS)
    assert [(s.clock_us, s.rssi_dbm) for s in seen] == [(wearer - 150 * MS, -42)]


def test_a_badge_wearer_whose_approach_a_visitor_ahead_took_is_still_staff() -> None:
    # 1 s ahead, the visitor is in the doorway while the badge is ~1 m away (-50 dBm): that
    # visitor counts as staff, unavoidably; the wearer, heard stronger at the door, too
    node = _badge_node()
    wearer = 10_000 * MS
    _walk_with_badge(node, wearer, [wearer - 1_000 * MS], {})
    seen = _seen(node, wearer + 5_000 * MS)
    assert [s.clock_us for s in seen] == [wearer - 1_150 * MS, wearer - 150 * MS]
    assert seen[1].rssi_dbm == -42
