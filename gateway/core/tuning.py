"""Per-door thresholds of the counting engine, validated, with documented defaults.

Every figure here is physical (metres, seconds, people) and explained where it is defined;
`docs/engine.md` says how each one was chosen. Defaults fit a 5-30 cm beam spacing and
walking people at 0.6-2.0 m/s; override per door only with a reason.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class DoorTuning(BaseModel):
    """Thresholds for one door (all times in seconds of gateway time)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    glitch_s: float = Field(
        0.035,
        ge=0.0,
        le=0.2,
        description="Breaks shorter than this are light glitches (sunlight, insects, 1-30 ms), "
        "never a body: a 15 cm torso at 2 m/s still blocks for 75 ms.",
    )
    merge_gap_s: float = Field(
        0.03,
        ge=0.0,
        le=0.2,
        description="Clear gaps shorter than this inside a break are flicker at a body's edge "
        "and are bridged.",
    )
    blip_s: float = Field(
        0.12,
        ge=0.0,
        le=1.0,
        description="A break shorter than this is a blip (swinging hand, bag strap) when a "
        "longer break on the same beam is within `blip_reach_s`; blips never count.",
    )
    carry_gap_s: float = Field(
        0.12,
        ge=0.0,
        le=0.5,
        description="Two long breaks closer than this on both beams are one person with what "
        "they carry (a bag or case right behind): tailgaters keep >= 0.15 s apart.",
    )
    blip_reach_s: float = Field(
        0.4,
        ge=0.0,
        le=2.0,
        description="How far from a body's break a blip on the same beam may lie and still "
        "belong to that body.",
    )
    segment_gap_s: float = Field(
        0.6,
        gt=0.0,
        le=5.0,
        description="Both beams clear this long ends an episode; one person's edges (a body "
        "between beams 30 cm apart at 0.6 m/s, blips) never leave both clear this long.",
    )
    reorder_s: float = Field(
        0.6,
        ge=0.0,
        le=10.0,
        description="How long after an episode ends to wait for the other node's ticks "
        "(BLE connection interval, batching and retransmission) before deciding.",
    )
    hold_s: float = Field(
        300.0,
        ge=0.0,
        le=3600.0,
        description="An episode seen on one beam only is held up to this long for the other "
        "node's late backlog (after a disconnect) before it is decided as not a crossing; it is "
        "decided at once when that node has already delivered ticks from after it.",
    )
    max_lag_s: float = Field(
        1.5,
        gt=0.0,
        le=10.0,
        description="Largest outer/inner edge offset of one walker (30 cm at 0.2 m/s).",
    )
    stuck_s: float = Field(
        90.0,
        gt=1.0,
        description="A beam broken this long is stuck (tape, a parked cart, a dead emitter): "
        "a health event, and no counts from that door until it clears. Longer than anyone "
        "lingers in a doorway.",
    )
    passing: bool = Field(
        default=True,
        description="The door is wide enough for two people to pass each other in the beams "
        "(double doors, entrances of 1.4 m and more). In a single-leaf door one party passes at "
        "a time, and two breaks under one long break are one person turning back.",
    )
    split: bool = Field(
        default=False,
        description="Split a merged break into two people by its length. Off by default: "
        "single people vary about threefold in length at beam height (children, backpacks, "
        "bags) and carts overlap that range, so on mixed traffic length alone mis-splits more "
        "people than it rescues (docs/engine.md has the figures). Turn it on for doors with "
        "uniform traffic, such as a staff entrance.",
    )
    split_min: float = Field(
        2.3,
        gt=1.0,
        description="A matched break whose length (duration over lag, so independent of speed) "
        "is at least this many times the door's typical single-person length is two people "
        "walking in contact...",
    )
    split_max: float = Field(
        3.0,
        gt=1.0,
        description="...unless it is longer than this many times: then it is one person with a "
        "cart, stroller or trolley (one long rigid break).",
    )
    split_after: int = Field(
        12,
        ge=1,
        description="Clean single crossings to learn a door's typical length from before any "
        "break is split.",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.split_max <= self.split_min:
            raise ValueError("split_max must be greater than split_min")
        if self.blip_s < self.glitch_s:
            raise ValueError("blip_s must be at least glitch_s")
        return self


class EngineConfig(BaseModel):
    """Engine-wide settings: defaults for every door plus per-door overrides."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: DoorTuning = DoorTuning()
    doors: dict[str, DoorTuning] = Field(default_factory=dict)
    gap_timeout_s: float = Field(
        60.0,
        gt=0.0,
        description="Missing sequence numbers not delivered within this long are counted lost.",
    )

    def for_door(self, door: str) -> DoorTuning:
        return self.doors.get(door, self.default)
