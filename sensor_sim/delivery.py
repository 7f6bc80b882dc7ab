"""BLE delivery of one node's ticks to the gateway, and the gateway's receive clock.

The node queues each edge and notifies at the next connection event of its link (interval
7.5-50 ms, its own phase), at most `max_per_event` per event. A lost packet stalls the queue
to the next event (the link layer retransmits in order). While disconnected the node keeps
sampling and buffering (oldest overwritten when full); after reconnecting the backlog goes
out in a burst, sometimes preceded by a resend of the last few ticks (a resume overlap:
duplicates). A reboot loses the queue. `rx` adds a log-normal processing latency, FIFO per
node, with rare scheduling hiccups.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

from gateway.protocol.trace import Tick
from sensor_sim.scenarios import Link

SLOT_S = 0.0004  # air time of one notification within a connection event
FIRMWARE_S = 0.0002  # edge -> queued for BLE


@dataclass(frozen=True, slots=True)
class Pending:
    """A tick as the node produced it: true generation time, owning boot's end."""

    gen: float
    boot_end: float
    tick: Tick  # rx filled in on delivery


@dataclass(frozen=True, slots=True)
class Outage:
    start: float
    end: float
    kind: str  # "disconnect" or "reboot"


class Connection:
    """Connection events of one node's link over time, given its outages."""

    def __init__(self, interval: float, phase: float, outages: list[Outage]) -> None:
        self.interval = interval
        self.outages = outages
        starts = [phase]
        ends: list[float] = []
        for o in outages:
            ends.append(o.start)
            starts.append(o.end)
        ends.append(math.inf)
        self._starts = starts
        self._ends = ends

    def next_event(self, t: float) -> float:
        """The first connection event at or after `t`."""
        i = bisect.bisect_right(self._ends, t)
        while True:
            start, end = self._starts[i], self._ends[i]
            tt = max(t, start)
            e = start + math.ceil((tt - start) / self.interval - 1e-9) * self.interval
            if e < end:
                return e
            i += 1

    def resumed_at(self, e: float) -> Outage | None:
        """The outage that ended right before event `e`, if `e` is a segment's first event."""
        i = bisect.bisect_right(self._ends, e)
        if i == 0:
            return None
        if e - self._starts[i] < self.interval * 0.5:
            return self.outages[i - 1]
        return None


def merge_outages(outages: list[Outage]) -> list[Outage]:
    merged: list[Outage] = []
    for o in sorted(outages, key=lambda o: o.start):
        if merged and o.start <= merged[-1].end:
            last = merged[-1]
            kind = "reboot" if "reboot" in (last.kind, o.kind) else last.kind
            merged[-1] = Outage(last.start, max(last.end, o.end), kind)
        else:
            merged.append(o)
    return merged


def deliver(  # noqa: PLR0912 - one branch per delivery fault
    rng: np.random.Generator,
    link: Link,
    conn: Connection,
    pending: list[Pending],
    start: float,
) -> list[Tick]:
    """Deliver `pending` (in node order); returns the ticks that arrived, with rx set."""
    pending = _overflow(pending, conn.outages, link.buffer_ticks)
    sent: list[tuple[float, int, Tick]] = []  # (event time, slot, tick)
    event, count = -math.inf, 0
    history: list[Tick] = []  # delivered ticks of the current boot, for resume overlaps
    for item in pending:
        if link.loss_p and rng.random() < link.loss_p:
            continue
        e = conn.next_event(max(item.gen + FIRMWARE_S, event))
        if e == event and count >= link.max_per_event:
            e = conn.next_event(event + 1e-9)
        if e != event:
            while link.retransmit_p and rng.random() < link.retransmit_p:
                e = conn.next_event(e + 1e-9)
            event, count = e, 0
            outage = conn.resumed_at(e)
            if (
                outage is not None
                and outage.kind == "disconnect"
                and history
                and history[-1].boot == item.tick.boot
                and rng.random() < link.resume_overlap_p
            ):
                for old in history[-int(rng.integers(1, 6)) :]:
                    sent.append((e, count, old))
                    count += 1
        if e >= item.boot_end:
            continue  # still queued in RAM when the node rebooted
        if history and history[-1].boot != item.tick.boot:
            history.clear()
        sent.append((e, count, item.tick))
        history.append(item.tick)
        if len(history) > 8:
            del history[0]
        count += 1
        if link.duplicate_p and rng.random() < link.duplicate_p:
            late = conn.next_event(e + conn.interval * float(rng.uniform(1, 5)))
            if late < item.boot_end:
                sent.append((late, link.max_per_event, item.tick))
    sent.sort(key=lambda s: (s[0], s[1]))
    n = len(sent)
    sigma = math.log1p(link.jitter_ms / link.latency_ms) if link.latency_ms > 0 else 0.0
    latency = link.latency_ms * 1e-3 * np.exp(rng.normal(0, sigma, n))
    hiccup = (rng.random(n) < link.hiccup_p) * rng.uniform(0.010, 0.060, n)
    out: list[Tick] = []
    last = -math.inf
    for (e, slot, tick), lat, hic in zip(sent, latency, hiccup, strict=True):
        rx = max(e + slot * SLOT_S + float(lat) + float(hic), last + 1e-6)
        last = rx
        out.append(
            Tick(
                tick.node,
                tick.boot,
                tick.seq,
                tick.node_us,
                tick.beam,
                tick.broken,
                round(start + rx, 6),
            )
        )
    return out


def _overflow(pending: list[Pending], outages: list[Outage], capacity: int) -> list[Pending]:
    """Drop the oldest ticks a full node buffer overwrote during each disconnect."""
    drop: set[int] = set()
    gens = [p.gen for p in pending]
    for o in outages:
        if o.kind != "disconnect":
            continue
        lo, hi = bisect.bisect_left(gens, o.start - 0.1), bisect.bisect_left(gens, o.end)
        if hi - lo > capacity:
            drop.update(range(lo, hi - capacity))
    return [p for i, p in enumerate(pending) if i not in drop]
