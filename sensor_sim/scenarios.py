"""Typed scenario parameters and the named presets.

A Scenario is frozen; build variants with `dataclasses.replace`, e.g. a test's
"single file, 200 people, 5 cm spacing, no glitches":

    s = preset("single-file")
    s = replace(s, traffic=replace(s.traffic, count=200),
                doors=replace(s.doors, spacing_m=(0.05, 0.05)), faults=Faults())
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from typing import Literal

from gateway.errors import ConfigError

Layout = Literal["dual", "pair", "mixed"]


def _check(ok: bool, what: str, value: object) -> None:
    if not ok:
        raise ConfigError(f"scenario {what} is out of range: {value!r}")


def _check_range(pair: tuple[float, float], lo: float, hi: float, what: str) -> None:
    _check(len(pair) == 2 and lo <= pair[0] <= pair[1] <= hi, f"{what} (in {lo}..{hi})", pair)


@dataclass(frozen=True, slots=True)
class Mix:
    """Relative weights of the behaviours an arrival turns into."""

    single: float = 1.0
    tailgate: float = 0.0  # 2-3 people in a row, back-to-front gap >= tailgate_gap_s
    abreast: float = 0.0  # two side by side, 0-0.2 m apart along x
    cart: float = 0.0  # one person pushing a cart or stroller
    uturn: float = 0.0  # walks into the beams and back out: never counted
    linger: float = 0.0  # stands in the beams 1-20 s, then goes through or retreats
    opposite: float = 0.0  # two people in opposite directions within ~1.5 s

    def __post_init__(self) -> None:
        values = [getattr(self, f.name) for f in fields(self)]
        _check(all(v >= 0 for v in values) and sum(values) > 0, "mix weights", values)


@dataclass(frozen=True, slots=True)
class Visits:
    """Who comes in stays, and leaves by the same door: a visit per person heading in.

    Dwell is lognormal (right-skewed, as length-of-stay data are): `dwell_median_s` and the
    log-sd `dwell_sigma`, clipped to `dwell_range_s`. The defaults are an ASSUMPTION for a small
    shop (median 12 min, p90 ~29 min), not a measured distribution; see docs/simulator.md.
    `buy_share` of visits pay at a till `pay_before_exit_s` before they leave.
    """

    dwell_median_s: float = 720.0
    dwell_sigma: float = 0.7
    dwell_range_s: tuple[float, float] = (30.0, 4 * 3600.0)
    buy_share: float = 0.3
    pay_before_exit_s: tuple[float, float] = (20.0, 120.0)
    browse_share: float = 0.0  # extra arrivals that look in and turn back (U-turns), per visit
    open_s: float | None = None  # nobody comes in after this (closing time); None: all along

    def __post_init__(self) -> None:
        _check(10 <= self.dwell_median_s <= 86400, "dwell_median_s", self.dwell_median_s)
        _check(0 <= self.dwell_sigma <= 3, "dwell_sigma", self.dwell_sigma)
        _check_range(self.dwell_range_s, 1.0, 86400.0, "dwell_range_s")
        _check(0 <= self.buy_share <= 1, "buy_share", self.buy_share)
        _check_range(self.pay_before_exit_s, 0.0, 3600.0, "pay_before_exit_s")
        _check(0 <= self.browse_share <= 10, "browse_share", self.browse_share)
        _check(self.open_s is None or self.open_s > 0, "open_s", self.open_s)


@dataclass(frozen=True, slots=True)
class Traffic:
    """Who walks through each door, how often and how fast."""

    rate_per_min: float = 4.0  # arrivals/min per door, both directions (busiest hour if profile)
    in_share: float = 0.5  # share of arrivals heading in
    profile: bool = False  # follow the real hour-of-week profile (sensor_sim/data/profile.json)
    count: int | None = None  # exactly this many arrivals per door, spread over the duration
    mix: Mix = field(default_factory=Mix)
    speed_mps: float = 1.3  # mean walking speed
    speed_sd: float = 0.25
    speed_range: tuple[float, float] = (0.6, 2.0)
    tailgate_gap_s: float = 0.15  # minimum back-to-front gap of a follower
    tailgate_gap_mean_s: float = 0.45
    abreast_offset_m: float = 0.2  # max x offset between two people walking abreast
    swing_share: float = 0.6  # share of people whose hands swing freely at beam height
    arm_amp_m: tuple[float, float] = (0.15, 0.35)
    bag_share: float = 0.25
    backpack_share: float = 0.1
    linger_s: tuple[float, float] = (1.0, 20.0)
    linger_through_share: float = 0.6  # lingerers who then go through (the rest retreat)
    uturn_both_share: float = 0.5  # U-turners who reach the inner beam too
    # Zone clear to the next party's entry when it had to wait (a door's queue discharges
    # at roughly one person a second, bottleneck flow ~1.1-1.3 persons/s per metre).
    headway_s: tuple[float, float] = (0.2, 0.8)
    # Visits: arrivals heading in (rate x in_share) stay and leave again (single or cart).
    visits: Visits | None = None

    def __post_init__(self) -> None:
        _check(0 <= self.rate_per_min <= 120, "rate_per_min", self.rate_per_min)
        _check(0 <= self.in_share <= 1, "in_share", self.in_share)
        _check(self.count is None or self.count >= 0, "count", self.count)
        _check_range(self.speed_range, 0.3, 3.0, "speed_range")
        _check(0.3 <= self.speed_mps <= 3.0 and self.speed_sd >= 0, "speed", self.speed_mps)
        _check(self.tailgate_gap_s >= 0.05, "tailgate_gap_s", self.tailgate_gap_s)
        _check(
            self.tailgate_gap_mean_s >= self.tailgate_gap_s,
            "tailgate_gap_mean_s",
            self.tailgate_gap_mean_s,
        )
        _check(0 <= self.abreast_offset_m <= 0.5, "abreast_offset_m", self.abreast_offset_m)
        for name in (
            "swing_share",
            "bag_share",
            "backpack_share",
            "linger_through_share",
            "uturn_both_share",
        ):
            _check(0 <= getattr(self, name) <= 1, name, getattr(self, name))
        _check_range(self.arm_amp_m, 0.0, 0.5, "arm_amp_m")
        _check_range(self.linger_s, 0.2, 600, "linger_s")
        _check_range(self.headway_s, 0.0, 30, "headway_s")


@dataclass(frozen=True, slots=True)
class Doors:
    """How many doors and how their beams are built."""

    count: int = 1
    spacing_m: tuple[float, float] = (0.10, 0.10)  # beam spacing, drawn per door
    layout: Layout = "dual"  # one dual-beam node, a pair of single-beam nodes, or either
    tilt_deg: float = 1.0  # max beam misalignment: the beam is crossed off-square
    width_m: tuple[float, float] = (0.8, 1.1)  # clear width, drawn per door (single leaf)
    wide_share: float = 0.0  # share of doors that are double or entrance doors instead
    wide_width_m: tuple[float, float] = (1.6, 2.4)  # their clear width

    def __post_init__(self) -> None:
        _check(1 <= self.count <= 64, "doors count", self.count)
        _check_range(self.spacing_m, 0.03, 0.5, "spacing_m")
        _check_range(self.width_m, 0.6, 6.0, "width_m")
        _check_range(self.wide_width_m, 0.6, 6.0, "wide_width_m")
        _check(0 <= self.wide_share <= 1, "wide_share", self.wide_share)
        _check(self.layout in ("dual", "pair", "mixed"), "layout", self.layout)
        _check(0 <= self.tilt_deg <= 5, "tilt_deg", self.tilt_deg)


@dataclass(frozen=True, slots=True)
class Clocks:
    """Node clocks and receiver sampling."""

    drift_ppm: float = 20.0  # max |drift| per node, wander included
    wander_ppm: float = 2.0  # max amplitude of a slow (1-6 h) temperature wander
    uptime_s: tuple[float, float] = (600.0, 10 * 86400.0)  # node booted this long before start
    sample_us: tuple[int, int] = (250, 1000)  # receiver sampling period, drawn per node

    def __post_init__(self) -> None:
        _check(0 <= self.drift_ppm <= 200, "drift_ppm", self.drift_ppm)
        _check(0 <= self.wander_ppm <= 200, "wander_ppm", self.wander_ppm)
        _check_range(self.uptime_s, 0.0, 1e8, "uptime_s")
        _check(50 <= self.sample_us[0] <= self.sample_us[1] <= 20000, "sample_us", self.sample_us)


@dataclass(frozen=True, slots=True)
class Link:
    """BLE delivery of ticks from each node to the gateway."""

    interval_ms: tuple[float, float] = (7.5, 50.0)  # connection interval, drawn per node
    max_per_event: int = 6  # ticks per connection event
    retransmit_p: float = 0.01  # a connection event's packet is lost and retried next event
    latency_ms: float = 2.0  # gateway processing latency (median)
    jitter_ms: float = 1.0  # log-normal spread of that latency
    hiccup_p: float = 0.001  # occasional 10-60 ms scheduling stall at the gateway
    disconnects_per_hour: float = 0.0
    disconnect_s: tuple[float, float] = (1.0, 30.0)
    resume_overlap_p: float = 0.5  # after a reconnect, re-send the last few ticks (duplicates)
    duplicate_p: float = 0.0  # per tick, an extra late copy
    reboots_per_day: float = 0.0
    reboot_blackout_s: tuple[float, float] = (1.0, 6.0)
    loss_p: float = 0.0  # per tick, lost for good
    buffer_ticks: int = 4096  # node-side queue; the oldest are overwritten when full

    def __post_init__(self) -> None:
        _check_range(self.interval_ms, 7.5, 4000.0, "interval_ms")
        _check(1 <= self.max_per_event <= 100, "max_per_event", self.max_per_event)
        for name in ("retransmit_p", "hiccup_p", "resume_overlap_p", "duplicate_p", "loss_p"):
            _check(0 <= getattr(self, name) < 1, name, getattr(self, name))
        _check(self.latency_ms >= 0 and self.jitter_ms >= 0, "latency_ms", self.latency_ms)
        _check(self.disconnects_per_hour >= 0, "disconnects_per_hour", self.disconnects_per_hour)
        _check(self.reboots_per_day >= 0, "reboots_per_day", self.reboots_per_day)
        _check_range(self.disconnect_s, 0.1, 3600.0, "disconnect_s")
        _check_range(self.reboot_blackout_s, 0.1, 600.0, "reboot_blackout_s")
        _check(self.buffer_ticks >= 16, "buffer_ticks", self.buffer_ticks)


@dataclass(frozen=True, slots=True)
class Faults:
    """Beam-level faults; the default is none."""

    glitches_per_hour: float = 0.0  # per beam: short broken pulses (sunlight, insects)
    glitch_ms: tuple[float, float] = (1.0, 30.0)
    stuck_per_door: int = 0  # episodes of one beam stuck broken
    stuck_s: tuple[float, float] = (120.0, 600.0)

    def __post_init__(self) -> None:
        _check(self.glitches_per_hour >= 0, "glitches_per_hour", self.glitches_per_hour)
        _check_range(self.glitch_ms, 0.01, 1000.0, "glitch_ms")
        _check(0 <= self.stuck_per_door <= 100, "stuck_per_door", self.stuck_per_door)
        _check_range(self.stuck_s, 1.0, 86400.0, "stuck_s")


@dataclass(frozen=True, slots=True)
class Hazards:
    """What real doorways add to a clean passage, each an independent knob; off by default.

    Sources and ranges are in docs/simulator.md. Blips and gaps are drawn per beam (a hand is
    elsewhere by the time the torso reaches the second beam) unless `blip_same`.
    """

    blip_ahead_p: float = 0.0  # per pass and beam: a hand/bag blip ahead of the torso
    blip_behind_p: float = 0.0  # ... and behind it
    blip_ahead_s: tuple[float, float] = (0.04, 0.14)  # blip start before the torso's break
    blip_behind_s: tuple[float, float] = (0.02, 0.12)  # blip start after the torso clears
    blip_len_s: tuple[float, float] = (0.012, 0.05)
    blip_same: bool = False  # one draw per pass for both beams (walking order kept)
    body_gap_p: float = 0.0  # per pass and beam: an arm-torso gap inside the torso's break
    body_gap_s: tuple[float, float] = (0.010, 0.045)
    reflective_p: float = 0.0  # per pass and beam: a shiny patch returns the beam mid-body
    reflective_s: tuple[float, float] = (0.02, 0.12)
    door_leaf_p: float = 0.0  # per crossing: the door leaf sweeps through the inner beam
    flicker_per_hour: float = 0.0  # per beam: 0.3-3 s bursts of sunlight/IR flicker
    slams_per_hour: float = 0.0  # a door slam shakes both beams at once (3-25 ms dropouts)
    leans_per_hour: float = 0.0  # someone leaning in the frame on one beam, 5-60 s
    child_share: float = 0.0  # walkers who are children: small torso, hands below the beam

    def __post_init__(self) -> None:
        for name in (
            "blip_ahead_p",
            "blip_behind_p",
            "body_gap_p",
            "reflective_p",
            "door_leaf_p",
            "child_share",
        ):
            _check(0 <= getattr(self, name) <= 1, name, getattr(self, name))
        for name in ("flicker_per_hour", "slams_per_hour", "leans_per_hour"):
            _check(0 <= getattr(self, name) <= 3600, name, getattr(self, name))
        for name in ("blip_ahead_s", "blip_behind_s", "blip_len_s", "body_gap_s", "reflective_s"):
            _check_range(getattr(self, name), 0.0, 2.0, name)

    @property
    def any(self) -> bool:
        return self != Hazards()


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    traffic: Traffic = field(default_factory=Traffic)
    doors: Doors = field(default_factory=Doors)
    clocks: Clocks = field(default_factory=Clocks)
    link: Link = field(default_factory=Link)
    faults: Faults = field(default_factory=Faults)
    hazards: Hazards = field(default_factory=Hazards)
    duration_s: float = 600.0  # default when the caller gives none
    plan: Literal["shop-day"] | None = None
    """A scripted site (`sensor_sim.shopday`): its doors, roles, zones, hours and people
    replace `doors.count` and the random arrivals."""


_BUSY_MIX = Mix(
    single=0.62, tailgate=0.14, abreast=0.05, cart=0.04, uturn=0.06, linger=0.03, opposite=0.06
)
_MIXED = Mix(
    single=0.70, tailgate=0.10, abreast=0.05, cart=0.04, uturn=0.04, linger=0.03, opposite=0.04
)
_SKEW_TRAFFIC = Traffic(rate_per_min=12.0, mix=_MIXED)
_WIDE = Doors(width_m=(1.6, 2.4))  # a double or entrance door: room to pass

PRESETS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "clean",
            "one dual-beam door, single walkers, 4/min, no glitches, a perfect BLE link",
            Traffic(swing_share=0.0, bag_share=0.0, backpack_share=0.0),
            clocks=Clocks(drift_ppm=0.0, wander_ppm=0.0),
            link=Link(retransmit_p=0.0, hiccup_p=0.0),
        ),
        Scenario(
            "single-file",
            "sparse single file (4/min) with arm/bag blips and sunlight/insect glitches",
            Traffic(rate_per_min=4.0),
            faults=Faults(glitches_per_hour=30.0),
        ),
        Scenario(
            "busy",
            "busy door, 20 arrivals/min: tailgating (gaps >= 0.15 s), U-turns, lingerers, carts",
            Traffic(rate_per_min=20.0, mix=_BUSY_MIX),
            faults=Faults(glitches_per_hour=10.0),
        ),
        Scenario(
            "two-node-skew",
            "12/min mixed traffic on two single-beam nodes, clocks ±50 ppm and offset boots",
            _SKEW_TRAFFIC,
            Doors(layout="pair"),
            Clocks(drift_ppm=50.0, wander_ppm=0.0, uptime_s=(60.0, 30 * 86400.0)),
        ),
        Scenario(
            "dual-beam",
            "the same traffic as two-node-skew (same seed, same people) on one dual-beam node",
            _SKEW_TRAFFIC,
            Doors(layout="dual"),
        ),
        Scenario(
            "carts",
            "a supermarket door: 40% carts and strollers (one long break each), 8/min",
            Traffic(rate_per_min=8.0, mix=Mix(single=0.5, cart=0.4, tailgate=0.1)),
        ),
        Scenario(
            "abreast",
            "couples and friends side by side (x offset 0-0.2 m) in a 1.6-2.4 m door, 8/min",
            Traffic(rate_per_min=8.0, mix=Mix(single=0.4, abreast=0.5, tailgate=0.1)),
            _WIDE,
        ),
        Scenario(
            "hesitant",
            "a shop window door: many U-turns and lingerers (1-20 s sways), 6/min",
            Traffic(rate_per_min=6.0, mix=Mix(single=0.4, uturn=0.35, linger=0.25)),
        ),
        Scenario(
            "opposite",
            "counter-flow in a 1.6-2.4 m door: people passing each other in the beams, 10/min",
            Traffic(rate_per_min=10.0, mix=Mix(single=0.4, opposite=0.6)),
            _WIDE,
        ),
        Scenario(
            "stuck-beam",
            "8/min; one beam per door stuck broken for 2-10 minutes, twice",
            Traffic(rate_per_min=8.0, mix=_MIXED),
            faults=Faults(stuck_per_door=2, glitches_per_hour=5.0),
            duration_s=1800.0,
        ),
        Scenario(
            "flaky-ble",
            "10/min on two nodes with disconnects, reboots, duplicates, retries and lost ticks",
            Traffic(rate_per_min=10.0, mix=_MIXED),
            Doors(layout="pair"),
            link=Link(
                retransmit_p=0.05,
                disconnects_per_hour=12.0,
                reboots_per_day=48.0,
                duplicate_p=0.002,
                loss_p=0.001,
                resume_overlap_p=0.7,
            ),
            duration_s=1800.0,
        ),
        Scenario(
            "narrow",
            "beams 5-8 cm apart, fast and slow walkers (0.6-2.0 m/s), 8/min",
            Traffic(rate_per_min=8.0, speed_sd=0.4, mix=_MIXED),
            Doors(spacing_m=(0.05, 0.08)),
        ),
        Scenario(
            "real-day",
            "3 doors (some wide) following the real hour-of-week profile (peak 20/min), mixed",
            Traffic(rate_per_min=20.0, profile=True, mix=_MIXED),
            Doors(count=3, spacing_m=(0.05, 0.30), layout="mixed", wide_share=0.3),
            Clocks(drift_ppm=50.0),
            Link(disconnects_per_hour=0.5, reboots_per_day=0.5, duplicate_p=0.0002),
            Faults(glitches_per_hour=6.0),
            duration_s=86400.0,
        ),
        Scenario(
            "shop-day",
            "a shop's day 06:00-22:00: entrance, staff door, stairs to an upper floor, a frontage "
            "beam; opening hours 09-19; visitors, two staff shifts, deliveries, cleaners",
            # The script decides who comes when; the rate is its noon average per door.
            Traffic(rate_per_min=1.5, mix=Mix(single=0.9, cart=0.1)),
            Doors(count=4, spacing_m=(0.08, 0.15), layout="mixed"),
            link=Link(disconnects_per_hour=0.5, reboots_per_day=0.5, duplicate_p=0.0002),
            faults=Faults(glitches_per_hour=4.0),
            duration_s=16 * 3600.0,
            plan="shop-day",
        ),
        Scenario(
            "mall",
            "8 mall doors, ~30% wide entrances, profile-driven (peak 30/min), mixed, some faults",
            Traffic(rate_per_min=30.0, profile=True, mix=_BUSY_MIX),
            Doors(count=8, spacing_m=(0.05, 0.30), layout="mixed", tilt_deg=2.0, wide_share=0.3),
            Clocks(drift_ppm=50.0, wander_ppm=3.0),
            Link(
                retransmit_p=0.02,
                disconnects_per_hour=1.0,
                reboots_per_day=1.0,
                duplicate_p=0.0005,
                loss_p=0.0002,
            ),
            Faults(glitches_per_hour=12.0, stuck_per_door=0),
            duration_s=3600.0,
        ),
    )
}


def busy_site(name: str, doors: int, rate_per_min: float) -> Scenario:
    """The `busy` preset's traffic mix at `rate_per_min` per door, on `doors` doors of two
    single-beam nodes each: the site the footprint benchmark and the soak run."""
    busy = PRESETS["busy"]
    return replace(
        busy,
        name=name,
        traffic=Traffic(rate_per_min=rate_per_min, mix=busy.traffic.mix),
        doors=Doors(count=doors, layout="pair"),
    )


def preset(name: str) -> Scenario:
    try:
        return PRESETS[name]
    except KeyError:
        known = ", ".join(PRESETS)
        raise ConfigError(f"unknown scenario {name!r}; known: {known}") from None


def with_doors(scenario: Scenario, doors: int | None) -> Scenario:
    if doors is None:
        return scenario
    return replace(scenario, doors=replace(scenario.doors, count=doors))


_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|min|h|d)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(text: str) -> float:
    """'90s', '10m', '2h', '1d', '1.5h' or plain seconds -> seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(f"duration {text!r} is not like 90s, 10m, 2h or 1d")
    seconds = float(match.group(1)) * _UNIT[match.group(2)]
    if not 0 < seconds <= 31 * 86400:
        raise ConfigError(f"duration {text!r} must be > 0 and at most 31 days")
    return seconds
