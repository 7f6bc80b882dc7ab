"""The simulator's traces: determinism, the trace contract, physics and delivery behaviour."""

from __future__ import annotations

import io
import math
from collections import Counter
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from gateway.errors import ConfigError, DoorcountError
from gateway.protocol.trace import Tick, TraceReader, Truth, dumps, open_trace, write_trace
from sensor_sim.generator import generate
from sensor_sim.physics import Body, Walker, occlusion
from sensor_sim.scenarios import PRESETS, Mix, Traffic, parse_duration, preset
from sensor_sim.traffic import DoorTraffic, Geometry
from tests.support.sim import NOON, by_stream, sparse_single_file, ticks, trace, truths


def _text(name: str, duration: float, seed: int) -> str:
    header, records = generate(name, duration, seed, NOON)
    return "\n".join([dumps(header), *(dumps(r) for r in records)])


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not() -> None:
    first = _text("busy", 120, 7)
    assert first == _text("busy", 120, 7)
    assert first != _text("busy", 120, 8)


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_writes_a_trace_that_parses(name: str, tmp_path: Path) -> None:
    duration = 180.0
    header, records = generate(name, duration, 3, NOON, doors=2 if name == "mall" else None)
    path = tmp_path / "t.jsonl"
    assert write_trace(path, header, records) == len(records)
    with open_trace(path) as reader:
        back = list(reader)
        assert reader.header.doors == header.doors
        assert reader.header.extra["sim"]["scenario"] == name
    assert back == records
    rx = [t.rx for t in ticks(back)]
    assert rx == sorted(rx), "tick lines must be in rx order"
    sc = preset(name)
    people = truths(back)
    expected = (
        sc.traffic.rate_per_min * duration / 60 * header.extra["sim"]["params"]["doors"]["count"]
    )
    if not sc.traffic.profile:
        # Groups add people, the end of the trace drops a few: a generous band around the rate.
        assert 0.4 * expected <= len(people) <= 2.5 * expected + 3
    assert {d.door for d in header.doors} >= {p.door for p in people}
    assert all(p.t - NOON <= duration and p.t >= NOON for p in people)


@pytest.mark.parametrize("name", ["clean", "busy", "two-node-skew", "dual-beam", "hesitant"])
def test_clean_links_keep_seq_and_node_clock_in_order(name: str) -> None:
    _, records = trace(name, 600)
    streams = by_stream(records)
    assert streams
    for (node, boot), got in streams.items():
        assert [t.seq for t in got] == list(range(got[0].seq, got[0].seq + len(got))), (node, boot)
        assert all(a.node_us <= b.node_us for a, b in pairwise(got))
        rx = [t.rx for t in got]
        assert rx == sorted(rx)


def test_node_us_is_quantised_to_the_sampling_grid() -> None:
    header, records = trace("two-node-skew", 600)
    period = {n["node"]: n["sample_us"] for n in header.extra["sim"]["nodes"]}
    for t in ticks(records):
        assert t.node_us % period[t.node] == 0
        assert 250 <= period[t.node] <= 1000


def test_edges_alternate_per_beam() -> None:
    _, records = trace("busy", 600)
    state: dict[tuple[str, int, int], bool] = {}
    for t in ticks(records):
        key = (t.node, t.boot, t.beam)
        assert state.get(key, False) != t.broken, f"two {t.broken} edges in a row on {key}"
        state[key] = t.broken


@pytest.mark.parametrize(("direction", "share"), [("in", 1.0), ("out", 0.0)])
@pytest.mark.parametrize("spacing", [0.05, 0.15, 0.30])
def test_the_first_beam_on_the_way_breaks_first(
    direction: str, share: float, spacing: float
) -> None:
    header, records = generate(sparse_single_file(40, spacing, share), 1200, 5, NOON)
    door = header.doors[0]
    first = door.outer.beam if direction == "in" else door.inner.beam
    all_ticks = ticks(records)
    people = truths(records)
    assert len(people) == 40
    assert all(p.direction == direction for p in people)
    times = [p.t for p in people]
    isolated = [p for p in people if sum(abs(p.t - t) < 4.0 for t in times) == 1]
    assert len(isolated) > 20
    for p in isolated:
        near = [t for t in all_ticks if abs(t.rx - p.t) < 2.0 and t.broken]
        assert near, p
        earliest = min(near, key=lambda t: (t.node_us, t.seq))
        assert earliest.beam == first, p


@pytest.mark.parametrize("spacing", [0.05, 0.1, 0.3])
@pytest.mark.parametrize("speed", [0.6, 1.3, 2.0])
def test_physics_lag_sign_on_the_true_timeline(spacing: float, speed: float) -> None:
    """Outer before inner for a walker going in, with swinging hands and a bag ahead."""
    rng = np.random.default_rng(0)
    body = Body(
        depth=0.28,
        width=0.4,
        hand=0.08,
        arm_amp=0.3,
        arm_bias=0.03,
        bag_width=0.2,
        bag_offset=0.28,
        bag_swing=0.05,
    )
    w = Walker(rng, t0=0.0, p0=-1.5, sign=1, speed=speed, stride_hz=0.9)
    w.walk(3.0)
    traj = w.build()
    ts = np.arange(0, traj.t1, 0.00025)
    outer, _ = occlusion(traj, body, -spacing / 2, ts)
    inner, _ = occlusion(traj, body, spacing / 2, ts)
    assert outer.any()
    assert inner.any()
    assert ts[np.argmax(outer)] < ts[np.argmax(inner)]
    assert ts[len(ts) - 1 - np.argmax(outer[::-1])] < ts[len(ts) - 1 - np.argmax(inner[::-1])]
    crossing = traj.crossing_time()
    assert ts[np.argmax(outer)] < crossing < ts[len(ts) - 1 - np.argmax(inner[::-1])]


def test_a_cart_is_one_long_break() -> None:
    rng = np.random.default_rng(1)
    body = Body(depth=0.3, width=0.4, cart=1.0)
    w = Walker(rng, t0=0.0, p0=-2.0, sign=1, speed=1.0, stride_hz=0.85)
    w.walk(4.0)
    traj = w.build()
    ts = np.arange(0, traj.t1, 0.0005)
    broken, _ = occlusion(traj, body, 0.0, ts)
    runs = np.count_nonzero(np.diff(broken.astype(np.int8)) == 1)
    assert runs == 1
    assert 1.1 < np.count_nonzero(broken) * 0.0005 < 1.6  # (1.0 + 0.3) m at 1 m/s


def test_clock_drift_and_offsets_stay_within_bounds() -> None:
    header, records = trace("two-node-skew", 3600)
    meta = {n["node"]: n for n in header.extra["sim"]["nodes"]}
    assert len(meta) == 2
    for (node, _boot), got in by_stream(records).items():
        # The lower envelope of (rx - node time) is the clock offset plus the drift.
        t = np.array([g.rx - NOON for g in got])
        d = t - np.array([g.node_us for g in got]) * 1e-6
        bins = np.floor(t / 120).astype(int)
        xs, ys = [], []
        for b in np.unique(bins):
            i = np.flatnonzero(bins == b)
            j = i[np.argmin(d[i])]
            xs.append(t[j])
            ys.append(d[j])
        slope = np.polyfit(xs, ys, 1)[0]
        drift_ppm = -slope * 1e6
        assert abs(drift_ppm) <= 52
        assert drift_ppm == pytest.approx(meta[node]["drift_ppm"], abs=3)
    # The two nodes booted at different times: their counters disagree by far more than 1 s.
    first: dict[str, float] = {}
    for tick in ticks(records):
        first.setdefault(tick.node, tick.node_us * 1e-6 - (tick.rx - NOON))
    a, b = first.values()
    assert abs(a - b) > 1.0


def test_flaky_ble_has_late_bursts_duplicates_reboots_and_gaps() -> None:
    header, records = trace("flaky-ble", 3600, 2)
    events = Counter(e["kind"] for e in header.extra["sim"]["events"])
    assert events["reboot"] >= 1
    assert events["disconnect"] >= 5
    seen: Counter[tuple[str, int, int]] = Counter((t.node, t.boot, t.seq) for t in ticks(records))
    assert any(n > 1 for n in seen.values()), "expected duplicate deliveries"
    boots: dict[str, list[int]] = {}
    for t in ticks(records):
        if t.boot not in boots.setdefault(t.node, []):
            boots[t.node].append(t.boot)
    assert any(len(b) > 1 for b in boots.values()), "expected a reboot"
    gaps = late = 0
    for (_node, boot), got in by_stream(records).items():
        fresh = []
        best = -1
        for t in got:  # drop re-sent ticks: per stream, seq must otherwise rise
            if t.seq > best:
                fresh.append(t)
                best = t.seq
        assert all(a.node_us <= b.node_us for a, b in pairwise(fresh))
        gaps += sum(b.seq - a.seq - 1 for a, b in pairwise(fresh))
        if boot != min(b for (n, b) in by_stream(records) if n == _node):
            assert fresh[0].node_us < 60e6, "a rebooted node's clock restarts near 0"
        # A backlog: consecutive ticks generated far apart arrive almost together.
        for a, b in pairwise(fresh):
            if b.rx - a.rx < 0.1 and (b.node_us - a.node_us) > 1e6 * 0.5:
                late += 1
    assert gaps > 0
    assert late > 0


def test_a_stuck_beam_stays_broken_while_people_cross() -> None:
    header, records = trace("stuck-beam", 1800, 4)
    stuck = [e for e in header.extra["sim"]["events"] if e["kind"] == "stuck"]
    assert len(stuck) == 2
    for e in stuck:
        lo, hi = NOON + e["from"] + 1.0, NOON + e["to"] - 1.0
        edges = [
            t
            for t in ticks(records)
            if t.node == e["node"] and t.beam == e["beam"] and lo + 0.2 < t.rx < hi
        ]
        assert edges == []
        assert any(lo < p.t < hi for p in truths(records))


def test_uturns_and_retreating_lingerers_are_never_counted() -> None:
    _, records = trace("hesitant", 1800)
    kinds = Counter((p.kind, p.direction) for p in truths(records))
    assert kinds[("uturn", "none")] > 10
    assert kinds[("uturn", "in")] == kinds[("uturn", "out")] == 0
    assert kinds[("linger", "none")] > 0
    assert kinds[("linger", "in")] + kinds[("linger", "out")] > 0


def test_tailgaters_keep_the_minimum_gap() -> None:
    sc = replace(preset("clean"), traffic=Traffic(rate_per_min=6, mix=Mix(single=0, tailgate=1)))
    _, records = generate(sc, 900, 1, NOON)
    people = truths(records)
    assert all(p.kind == "tailgate" for p in people)
    same_dir: dict[str, float] = {}
    for p in people:
        prev = same_dir.get(p.direction)
        if prev is not None:
            # middle-to-middle >= gap + two half torsos (>= 0.1 m each) at <= 2 m/s
            assert p.t - prev >= 0.15 + 0.2 / 2.0
        same_dir[p.direction] = p.t


def test_two_node_skew_and_dual_beam_share_the_people() -> None:
    _, skew = trace("two-node-skew", 600)
    _, dual = trace("dual-beam", 600)
    assert truths(skew) == truths(dual)
    assert {t.node for t in ticks(skew)} == {"n01", "n02"}
    assert {t.node for t in ticks(dual)} == {"n01"}


def test_profile_makes_nights_quieter_than_afternoons() -> None:
    night = generate("real-day", 3600, 1, NOON - 9 * 3600, doors=1)[1]  # 03:00 UTC
    day = generate("real-day", 3600, 1, NOON + 5 * 3600, doors=1)[1]  # 17:00 UTC
    assert len(truths(night)) * 5 < len(truths(day))


def test_count_gives_exactly_that_many_people() -> None:
    _, records = generate(sparse_single_file(200, 0.05, 0.5), 3000, 9, NOON)
    people = truths(records)
    assert len(people) == 200
    assert Counter(p.kind for p in people) == {"single": 200}


def test_truth_lines_are_valid_and_interleaved_in_time() -> None:
    _, records = trace("busy", 600)
    last_tick = -math.inf
    for r in records:
        if isinstance(r, Truth):
            assert r.direction in ("in", "out", "none")
            assert r.t >= last_tick - 1.0
        elif isinstance(r, Tick):
            last_tick = r.rx
    text = io.StringIO("\n".join(dumps(r) for r in records))
    with pytest.raises(DoorcountError):
        TraceReader(text)  # no header line: the parser rejects it


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("10m", 600.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1.5h", 5400.0),
        ("45", 45.0),
        ("250ms", 0.25),
    ],
)
def test_durations_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10 parsecs", "-5s", "0s", "40d", "h"])
def test_bad_durations_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="duration"):
        parse_duration(text)


def test_bad_scenarios_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown scenario 'nope'"):
        generate("nope", 60, 1)
    with pytest.raises(ConfigError, match="seed"):
        generate("clean", 60, -1)
    with pytest.raises(ConfigError, match="mix weights"):
        Mix(single=0)
    with pytest.raises(ConfigError, match="speed_range"):
        Traffic(speed_range=(2.0, 1.0))
    with pytest.raises(ConfigError, match="doors count"):
        generate("clean", 60, 1, doors=0)


def test_abreast_pairs_are_labelled_by_whether_physics_can_separate_them() -> None:
    _, records = trace("abreast", 1800)
    people = truths(records)
    kinds = Counter(p.kind for p in people)
    assert kinds["abreast"] > 0
    assert kinds["abreast-merged"] > 0
    pairs = [p for p in people if p.kind.startswith("abreast")]
    assert len(pairs) % 2 == 0
    for a, b in zip(pairs[::2], pairs[1::2], strict=True):
        assert a.direction == b.direction
        assert abs(a.t - b.t) <= 0.2 / 0.6 + 0.05  # <= 0.2 m apart at >= 0.6 m/s


@pytest.mark.parametrize(("both", "spacing"), [(0.0, 0.05), (0.0, 0.3), (1.0, 0.05), (1.0, 0.3)])
def test_uturners_reach_one_or_both_beams_as_planned(both: float, spacing: float) -> None:
    traffic = replace(preset("hesitant").traffic, mix=Mix(single=0, uturn=1), uturn_both_share=both)
    planner = DoorTraffic(np.random.default_rng(2), traffic, Geometry(spacing, 0, 0), 600)
    reached: Counter[tuple[bool, bool]] = Counter()
    for group in planner.plan(None):
        for p in group:
            assert p.direction == "none"
            ts = np.arange(p.traj.t0, p.traj.t1, 0.0005)
            first, _ = occlusion(p.traj, p.body, -p.traj.sign * spacing / 2, ts)
            second, _ = occlusion(p.traj, p.body, p.traj.sign * spacing / 2, ts)
            reached[(bool(first.any()), bool(second.any()))] += 1
    total = sum(reached.values())
    assert total > 20
    if both:
        assert reached[(True, True)] == total
    else:  # swinging hands and bags may still reach the second beam now and then
        assert reached[(True, False)] > 0.6 * total
