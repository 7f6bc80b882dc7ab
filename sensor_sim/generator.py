"""Compose a trace: site layout, node clocks and faults, people, beam edges, BLE delivery.

Every random choice comes from its own stream keyed by (seed, purpose, index), so the same
seed gives the same people whatever the node layout: `two-node-skew` and `dual-beam` share
their traffic, and adding a fault never moves a person.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np

from gateway.errors import ConfigError
from gateway.protocol.trace import (
    BadgeHeard,
    BeamRef,
    DoorSpec,
    Record,
    Tick,
    TraceHeader,
    Truth,
    Visit,
)
from gateway.protocol.wire import BadgeSeen
from sensor_sim import hazards, shopday
from sensor_sim import profile as profile_mod
from sensor_sim.clock import Boot, NodeClock
from sensor_sim.delivery import Connection, Outage, Pending, deliver, merge_outages
from sensor_sim.physics import occlusion
from sensor_sim.scenarios import Hazards, Scenario, Visits, preset, with_doors
from sensor_sim.traffic import DoorTraffic, Geometry, Person, RateFn, Scripted
from sensor_sim.twin import firmware_output
from sensor_sim.visits import PlannedVisit

DEFAULT_START = datetime(2025, 6, 3, 10, 0, tzinfo=UTC)  # a Tuesday morning
GENERATOR = "sensor_sim"

Progress = Callable[[str, float], None]  # (phase, fraction done 0..1)

# Random stream purposes; never renumber (it would change every seeded trace).
_DOOR, _LAYOUT, _TRAFFIC, _NODE, _LINK, _FAULT, _SCRIPT = 1, 2, 3, 4, 5, 6, 7
_HAZARD, _CHILD, _BADGE = 8, 9, 10

BADGE_LATENCY_S = 0.05
"""From the firmware queueing a BADGE_SEEN to the gateway receiving it (next connection event)."""

Run = tuple[int, int]  # [first broken sample k, first clear sample k)


def _rng(seed: int, purpose: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, purpose, index])


@dataclass(slots=True)
class Node:
    name: str
    clock: NodeClock
    boots: list[Boot]
    outages: list[Outage]
    interval: float
    phase: float
    # (beam channel, boot index) -> broken runs in sample indices
    runs: dict[tuple[int, int], list[Run]] = field(default_factory=dict)
    heard: list[shopday.Sighting] | None = None
    """Registered badges the node hears, (true time, RSSI, badge); None: a node without."""
    badges: list[tuple[float, int, BadgeSeen]] = field(default_factory=list)
    """BADGE_SEEN the firmware sent: (true send time, boot id, frame)."""

    def boot_spans(self, t0: float, t1: float) -> list[int]:
        return [i for i, b in enumerate(self.boots) if b.start < t1 and b.end > t0]

    def add(self, beam: int, boot: int, run: Run) -> None:
        self.runs.setdefault((beam, boot), []).append(run)


@dataclass(frozen=True, slots=True)
class Door:
    name: str
    geometry: Geometry
    outer: tuple[Node, int]
    inner: tuple[Node, int]


def _make_node(name: str, index: int, sc: Scenario, seed: int, duration: float) -> Node:
    rng = _rng(seed, _NODE, index)
    c = sc.clocks
    lo, hi = c.sample_us
    wander = float(rng.uniform(0, min(c.wander_ppm, abs(c.drift_ppm))))
    steady = abs(c.drift_ppm) - wander  # constant + wander stays within ±drift_ppm
    clock = NodeClock(
        sample_us=int(round(rng.uniform(lo, hi) / 50.0) * 50) if hi > lo else lo,
        drift_ppm=float(rng.uniform(-steady, steady)),
        wander_ppm=wander,
        wander_period_s=float(rng.uniform(3600, 6 * 3600)),
        wander_phase=float(rng.uniform(0, 2 * math.pi)),
    )
    link = sc.link
    boot_id = int(rng.integers(1, 1000))
    t = -float(rng.uniform(*c.uptime_s))
    boots: list[Boot] = []
    outages: list[Outage] = []
    n_reboots = int(rng.poisson(link.reboots_per_day * duration / 86400.0))
    for at in np.sort(rng.uniform(0, duration, n_reboots)):
        if at <= t + 5.0:
            continue
        boots.append(Boot(boot_id, t, float(at)))
        boot_id += 1
        t = float(at) + float(rng.uniform(*link.reboot_blackout_s))
        outages.append(Outage(float(at), t + float(rng.uniform(0.5, 3.0)), "reboot"))
    boots.append(Boot(boot_id, t, math.inf))
    n_disc = int(rng.poisson(link.disconnects_per_hour * duration / 3600.0))
    lo_s, hi_s = link.disconnect_s
    for at in rng.uniform(0, duration, n_disc):
        length = math.exp(rng.uniform(math.log(lo_s), math.log(hi_s)))
        outages.append(Outage(float(at), float(at) + length, "disconnect"))
    lo_ms, hi_ms = link.interval_ms
    interval = max(7.5, round(float(rng.uniform(lo_ms, hi_ms)) / 1.25) * 1.25) * 1e-3
    return Node(
        name, clock, boots, merge_outages(outages), interval, float(rng.uniform(-interval, 0))
    )


def _layout(sc: Scenario, seed: int, duration: float) -> tuple[list[Door], list[Node]]:
    doors: list[Door] = []
    nodes: list[Node] = []

    def node() -> Node:
        n = _make_node(f"n{len(nodes) + 1:02d}", len(nodes), sc, seed, duration)
        nodes.append(n)
        return n

    for i in range(sc.doors.count):
        rng = _rng(seed, _DOOR, i)
        tilt = math.tan(math.radians(sc.doors.tilt_deg))
        spacing = float(rng.uniform(*sc.doors.spacing_m))
        outer_tilt = float(rng.uniform(-tilt, tilt))
        inner_tilt = float(rng.uniform(-tilt, tilt))
        wide = rng.random() < sc.doors.wide_share
        width = float(rng.uniform(*(sc.doors.wide_width_m if wide else sc.doors.width_m)))
        geo = Geometry(spacing, outer_tilt, inner_tilt, width)
        layout = sc.doors.layout
        if layout == "mixed":
            layout = "dual" if _rng(seed, _LAYOUT, i).random() < 0.5 else "pair"
        if layout == "dual":
            n = node()
            outer, inner = (n, 0), (n, 1)
        else:
            outer, inner = (node(), 0), (node(), 0)
        doors.append(Door(f"door{i + 1}", geo, outer, inner))
    return doors, nodes


def _runs(broken: np.ndarray, k: np.ndarray) -> list[Run]:
    if not broken.any():
        return []
    b = np.concatenate(([False], broken, [False])).astype(np.int8)
    d = np.diff(b)
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1)
    kk = np.concatenate((k, [k[-1] + 1]))
    return [(int(kk[s]), int(kk[e])) for s, e in zip(starts, ends, strict=True)]


def _sample_people(
    door: Door,
    people: list[Person],
    hz: Hazards | None = None,
    rng: np.random.Generator | None = None,
    torsos: list[tuple[float, float]] | None = None,
) -> None:
    """Sample each person on both beams; with `hz`, add their pass hazards (blips, gaps)
    and note each crossing's torso span in `torsos` (for the door-level hazards)."""
    draws = [hazards.draw_pass(rng, hz) for _ in people] if hz is not None and rng else None
    spans: list[list[float]] = [[math.inf, -math.inf] for _ in people]
    for inner, (node, beam) in ((False, door.outer), (True, door.inner)):
        for j, person in enumerate(people):
            bx = door.geometry.beam_x(inner, person.lateral)
            span = person.traj.near(bx, person.body.reach + 0.01)
            if span is None:
                continue
            # the first beam this person meets, in their walking direction
            first = inner == (person.traj.sign < 0)
            blips: list[tuple[float, float]] = []
            for bi in node.boot_spans(*span):
                k, ts = node.clock.samples(node.boots[bi], *span)
                if len(k) == 0:
                    continue
                broken, torso = occlusion(person.traj, person.body, bx, ts)
                if draws is not None:
                    blips += hazards.apply_pass(draws[j][0 if first else 1], ts, broken, torso)
                    idx = np.flatnonzero(torso)
                    if len(idx):
                        spans[j][0] = min(spans[j][0], float(ts[idx[0]]))
                        spans[j][1] = max(spans[j][1], float(ts[idx[-1]]))
                for run in _runs(broken, k):
                    node.add(beam, bi, run)
            for a, b in blips:
                _add_interval(node, beam, a, b)
    if torsos is not None:
        torsos.extend(
            (lo, hi)
            for (lo, hi), p in zip(spans, people, strict=True)
            if p.direction != "none" and lo <= hi
        )


def _add_interval(node: Node, beam: int, t0: float, t1: float) -> None:
    """A broken interval in true time, as the node samples it (missed if between samples)."""
    for bi in node.boot_spans(t0, t1):
        boot = node.boots[bi]
        lo, hi = max(t0, boot.start), min(t1, boot.end)
        p = node.clock.sample_us
        k0 = math.ceil(float(node.clock.node_us(boot, lo)) / p)
        k1 = math.floor(float(node.clock.node_us(boot, hi)) / p)
        if k1 >= k0:
            node.add(beam, bi, (k0, k1 + 1))


def _faults(
    door: Door, index: int, sc: Scenario, seed: int, duration: float
) -> list[dict[str, object]]:
    rng = _rng(seed, _FAULT, index)
    f = sc.faults
    notes: list[dict[str, object]] = []
    for node, beam in (door.outer, door.inner):
        n = int(rng.poisson(f.glitches_per_hour * duration / 3600.0))
        lo, hi = (math.log(x * 1e-3) for x in f.glitch_ms)
        for at in rng.uniform(0, duration, n):
            _add_interval(node, beam, float(at), float(at) + math.exp(rng.uniform(lo, hi)))
    for _ in range(f.stuck_per_door):
        node, beam = door.outer if rng.random() < 0.5 else door.inner
        length = float(rng.uniform(*f.stuck_s))
        at = float(rng.uniform(0, max(1.0, duration - length)))
        _add_interval(node, beam, at, min(duration, at + length))
        notes.append(
            {
                "kind": "stuck",
                "door": door.name,
                "node": node.name,
                "beam": beam,
                "from": round(at, 3),
                "to": round(min(duration, at + length), 3),
            }
        )
    return notes


def _edges(node: Node) -> list[Pending]:  # noqa: PLR0912 - one branch per edge kind in the node's event merge
    """Union the runs per beam and boot; emit edges in node order with seq numbers."""
    p = node.clock.sample_us
    out: list[Pending] = []
    for bi, boot in enumerate(node.boots):
        last_k = (
            math.floor(float(node.clock.node_us(boot, boot.end)) / p)
            if math.isfinite(boot.end)
            else math.inf
        )
        edges: list[tuple[int, int, bool]] = []
        for (beam, b), runs in node.runs.items():
            if b != bi:
                continue
            runs.sort()
            cur_lo, cur_hi = runs[0]
            merged: list[Run] = []
            for lo, hi in runs[1:]:
                if lo <= cur_hi:
                    cur_hi = max(cur_hi, hi)
                else:
                    merged.append((cur_lo, cur_hi))
                    cur_lo, cur_hi = lo, hi
            merged.append((cur_lo, cur_hi))
            for lo, hi in merged:
                edges.append((lo, beam, True))
                if hi <= last_k:
                    edges.append((hi, beam, False))
        edges.sort()
        if not edges:
            continue
        # The node's firmware core (its digital twin) filters and numbers the edges, so the
        # trace carries exactly what that firmware would send.
        beams = sorted({beam for beam, b in node.runs if b == bi})
        heard = None
        if node.heard is not None:
            inside = [h for h in node.heard if boot.start <= h[0] < boot.end]
            at = node.clock.node_us(boot, np.array([h[0] for h in inside], dtype=np.float64))
            heard = [(int(u), r, b) for u, (_, r, b) in zip(at, inside, strict=True) if u >= 0]
        sent, badges = firmware_output(
            node.name, boot.boot_id, [(k * p, beam, br) for k, beam, br in edges], beams, heard
        )
        if badges:
            sent_at = node.clock.true_time(boot, np.array([u for u, _ in badges], dtype=np.float64))
            node.badges.extend(
                (float(t), boot.boot_id, frame)
                for t, (_, frame) in zip(sent_at, badges, strict=True)
            )
        if not sent:
            continue
        gens = node.clock.true_time(boot, np.array([ft.node_us for ft in sent], dtype=np.float64))
        for ft, gen in zip(sent, gens, strict=True):
            tick = Tick(node.name, boot.boot_id, ft.seq, ft.node_us, ft.beam, ft.broken, 0.0)
            out.append(Pending(float(gen), boot.end, tick))
    return out


def _profile_rate(
    prof: profile_mod.Profile, north_in: bool, per_s: float, start: datetime
) -> RateFn:
    """Arrival rates (in, out) per second: `per_s` at the busiest hour of an average week."""
    a, b = ("north", "south") if north_in else ("south", "north")

    def rate(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return per_s * profile_mod.shape(prof, a, start, t), per_s * profile_mod.shape(
            prof, b, start, t
        )

    return rate


def resolve(scenario: str | Scenario, doors: int | None = None) -> Scenario:
    sc = preset(scenario) if isinstance(scenario, str) else scenario
    return with_doors(sc, doors)


def generate(  # noqa: C901, PLR0912, PLR0915 - one branch per record kind
    scenario: str | Scenario,
    duration_s: float,
    seed: int,
    start: float | datetime | None = None,
    doors: int | None = None,
    *,
    progress: Progress | None = None,
) -> tuple[TraceHeader, list[Record]]:
    """Simulate `duration_s` seconds of a scenario; the same arguments give the same trace.

    `start` is the wall-clock start (Unix seconds or an aware datetime; the profile is read
    in its time zone). Returns the header and the records in file order (rx order for ticks,
    truth interleaved at its time).
    """
    sc = resolve(scenario, doors)
    if not 0 < duration_s <= 31 * 86400:
        raise ConfigError(f"duration must be > 0 s and at most 31 days, got {duration_s}")
    if seed < 0:
        raise ConfigError(f"seed must be >= 0, got {seed}")
    if start is None and sc.plan == "shop-day":
        start_dt = DEFAULT_START.replace(hour=shopday.START_HOUR)
    elif start is None:
        start_dt = DEFAULT_START
    elif isinstance(start, datetime):
        start_dt = start if start.tzinfo else start.replace(tzinfo=UTC)
    else:
        start_dt = datetime.fromtimestamp(start, UTC)
    t_start = start_dt.timestamp()

    def report(phase: str, done: float) -> None:
        if progress is not None:
            progress(phase, done)

    site_doors, nodes = _layout(sc, seed, duration_s)
    scripts: dict[str, Scripted] | None = None
    scripted_visits: dict[str, list[PlannedVisit]] = {}
    extra: dict[str, object] = {}
    since_midnight = 0.0
    if sc.plan == "shop-day":
        if len(site_doors) != len(shopday.DOORS):
            raise ConfigError(f"shop-day has {len(shopday.DOORS)} doors; --doors cannot change it")
        site_doors = [
            replace(d, name=name) for d, name in zip(site_doors, shopday.DOORS, strict=True)
        ]
        local = start_dt.astimezone(ZoneInfo(shopday.TIMEZONE))
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        since_midnight = (local - midnight).total_seconds()
        scripts, scripted_visits = shopday.script(
            _rng(seed, _SCRIPT, 0), since_midnight, duration_s
        )
        scripted_visits = {
            door: _purchases(_rng(seed, _SCRIPT, 1 + n), shopday.VISITS, planned)
            for n, (door, planned) in enumerate(sorted(scripted_visits.items()))
        }
        extra["layout"] = shopday.LAYOUT
    prof = profile_mod.load() if sc.traffic.profile else None
    truth: list[Truth] = []
    visits: list[Visit] = []
    notes: list[dict[str, object]] = []
    for i, door in enumerate(site_doors):
        rate: RateFn | None = None
        if prof is not None:
            north_in = _rng(seed, _DOOR, 1000 + i).random() < 0.5
            rate = _profile_rate(prof, north_in, sc.traffic.rate_per_min / 60.0, start_dt)
        planner = DoorTraffic(
            _rng(seed, _TRAFFIC, i),
            sc.traffic,
            door.geometry,
            duration_s,
            children=(sc.hazards.child_share, _rng(seed, _CHILD, i)),
        )
        hz = sc.hazards if sc.hazards.any else None
        hz_rng = _rng(seed, _HAZARD, i)
        torsos: list[tuple[float, float]] = []
        busy: list[tuple[float, float]] = []
        crossed: dict[tuple[int, str], float] = {}
        listens = scripts is not None and door.name in shopday.BADGE_DOORS
        staff_crossings: list[tuple[float, bool]] = []
        badge_rng = _rng(seed, _BADGE, i)
        scripted = None if scripts is None else scripts[door.name]
        if door.name in scripted_visits:
            planner.visits = scripted_visits[door.name]
        for n, group in enumerate(planner.plan(rate, scripted)):
            _sample_people(door, group, hz, hz_rng, torsos)
            if hz is not None:
                busy.extend((p.traj.t0, p.traj.t1) for p in group)
            crossed.update(
                {(p.visit, p.direction): p.truth_t for p in group if p.visit is not None}
            )
            if listens:
                for p in group:
                    worn = p.who == "staff" and badge_rng.random() < shopday.BADGE_SHARE
                    p.badge = worn
                    if p.who == "staff":
                        staff_crossings.append((float(p.truth_t), worn))
            truth.extend(
                Truth(
                    door.name,
                    round(t_start + float(p.truth_t), 6),
                    p.direction,
                    p.kind,
                    p.who,
                    p.badge,
                )
                for p in group
            )
            if n % 200 == 0:
                report("people", (i + group[0].traj.t0 / duration_s) / len(site_doors))
        if listens:
            node = door.outer[0]
            node.heard = sorted(
                shopday.badge_sightings(badge_rng, staff_crossings)
                + shopday.badge_passes(badge_rng, since_midnight, duration_s)
            )
        visits.extend(_visits(door.name, planner, crossed, t_start, duration_s))
        if hz is not None:
            on_outer, on_inner = hazards.door_level(hz_rng, hz, duration_s, torsos, busy)
            for (node, beam), hz_spans in ((door.outer, on_outer), (door.inner, on_inner)):
                for lo, hi in hz_spans:
                    _add_interval(node, beam, max(0.0, lo), min(duration_s, hi))
        notes.extend(_faults(door, i, sc, seed, duration_s))
        report("people", (i + 1) / len(site_doors))

    ticks: list[Tick | BadgeHeard] = []
    for j, node in enumerate(nodes):
        conn = Connection(node.interval, node.phase, node.outages)
        ticks.extend(deliver(_rng(seed, _LINK, j), sc.link, conn, _edges(node), t_start))
        ticks.extend(
            BadgeHeard(
                node.name,
                boot_id,
                frame.clock_us,
                frame.duration_ms * 1000,
                frame.rssi_dbm,
                round(t_start + sent + BADGE_LATENCY_S, 6),
            )
            for sent, boot_id, frame in node.badges
        )
        for o in node.outages:
            notes.append(
                {
                    "kind": o.kind,
                    "node": node.name,
                    "from": round(o.start, 3),
                    "to": round(o.end, 3),
                }
            )
        report("delivery", (j + 1) / len(nodes))

    node_order = {n.name: i for i, n in enumerate(nodes)}
    ticks.sort(key=lambda tk: (tk.rx, node_order[tk.node]))
    truth.sort(key=lambda tr: tr.t)
    records: list[Record] = []
    ti = 0
    for tick in ticks:
        while ti < len(truth) and truth[ti].t <= tick.rx:
            records.append(truth[ti])
            ti += 1
        records.append(tick)
    records.extend(truth[ti:])
    visits.sort(key=lambda v: v.t_in)
    records.extend(visits)

    header = TraceHeader(
        site=f"sim-{sc.name}",
        doors=tuple(
            DoorSpec(
                d.name, BeamRef(d.outer[0].name, d.outer[1]), BeamRef(d.inner[0].name, d.inner[1])
            )
            for d in site_doors
        ),
        extra={
            **extra,
            "sim": _metadata(
                sc=sc,
                seed=seed,
                duration=duration_s,
                start=start_dt,
                doors=site_doors,
                nodes=nodes,
                notes=notes,
            ),
        },
    )
    return header, records


def _purchases(
    rng: np.random.Generator, v: Visits, planned: list[PlannedVisit]
) -> list[PlannedVisit]:
    """Who of a script's visitors buys, and how long before leaving they pay (own stream, so
    the script's people stay exactly as they were)."""
    lo, hi = v.pay_before_exit_s
    buys = rng.random(len(planned)) < v.buy_share
    pay = rng.uniform(lo, hi, len(planned))
    return [
        replace(p, pay_before_exit=float(min(pay[i], p.dwell / 2)) if buys[i] else None)
        for i, p in enumerate(planned)
    ]


def _visits(
    door: str,
    planner: DoorTraffic,
    crossed: dict[tuple[int, str], float],
    t_start: float,
    duration: float,
) -> list[Visit]:
    """The visits whose entry happened, with the realised (queued) crossing times; a visitor
    pays `pay_before_exit` before the exit, or before the planned exit if still inside."""
    out = []
    for index, plan in enumerate(planner.visits):
        t_in = crossed.get((index, "in"))
        if t_in is None:
            continue  # the trace ended while they waited to come in
        t_out = crossed.get((index, "out"))
        paid = None
        if plan.pay_before_exit is not None:
            at = max(t_in, (t_out if t_out is not None else t_in + plan.dwell))
            at = max(t_in, at - plan.pay_before_exit)
            paid = round(t_start + at, 6) if at < duration else None
        out.append(
            Visit(
                door,
                round(t_start + t_in, 6),
                None if t_out is None else door,
                None if t_out is None else round(t_start + t_out, 6),
                paid,
            )
        )
    return out


def _metadata(
    *,
    sc: Scenario,
    seed: int,
    duration: float,
    start: datetime,
    doors: list[Door],
    nodes: list[Node],
    notes: list[dict[str, object]],
) -> dict[str, object]:
    """Generator facts for scoring and debugging only; an engine must not read them."""
    return {
        "generator": GENERATOR,
        "scenario": sc.name,
        "seed": seed,
        "start": start.isoformat(),
        "duration_s": duration,
        "doors": [
            {
                "door": d.name,
                "spacing_m": round(d.geometry.spacing, 4),
                "width_m": round(d.geometry.width, 3),
                "narrow": d.geometry.narrow,
            }
            for d in doors
        ],
        "nodes": [
            {
                "node": n.name,
                "sample_us": n.clock.sample_us,
                "drift_ppm": round(n.clock.drift_ppm, 3),
                "wander_ppm": round(n.clock.wander_ppm, 3),
                "interval_ms": round(n.interval * 1e3, 2),
                "boots": [b.boot_id for b in n.boots],
            }
            for n in nodes
        ],
        "events": sorted(
            notes, key=lambda e: (str(e["kind"]), str(e.get("node")), float(str(e["from"])))
        ),
        "params": asdict(sc),
    }
