"""What the counting engine emits. Plain frozen dataclasses: outputs (MQTT, eval) serialise them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gateway.protocol.trace import Direction

HealthKind = Literal[
    "beam_stuck",  # a beam stayed broken longer than the stuck threshold; no counts from it
    "beam_recovered",  # a stuck beam cleared again
    "node_reboot",  # a node came back with a new boot id: its sequence and clock restarted
    "seq_gap",  # ticks never arrived (lost in the node's buffer or on the link)
    "clock_jump",  # a node's clock disagreed with its fitted model and was re-fitted
]


@dataclass(frozen=True, slots=True)
class Crossing:
    """One person crossed `door` in `direction` at gateway time `t` (Unix seconds).

    `kind` says how it was decided (single, split, cart, ...); `confidence` is 0..1.
    `decided_at` is the gateway time at which the engine was sure, for latency figures;
    it can be much later than `t` when a node's backlog arrived late.
    """

    door: str
    direction: Direction
    t: float
    kind: str
    confidence: float
    decided_at: float


@dataclass(frozen=True, slots=True)
class DoorOccupancy:
    """Net people inside through `door` since the engine started: entries minus exits.

    A single door's figure may go negative (people leave by another door); site occupancy
    with its floor at zero is kept downstream, across doors.
    """

    door: str
    t: float
    entries: int
    exits: int

    @property
    def net(self) -> int:
        return self.entries - self.exits


@dataclass(frozen=True, slots=True)
class Health:
    """Something about a door's or node's data quality that an installer should know."""

    kind: HealthKind
    t: float
    node: str
    door: str | None = None
    beam: int | None = None
    detail: str = ""


Event = Crossing | DoorOccupancy | Health
