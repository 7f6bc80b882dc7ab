"""What the installer commands print: short lines for a person on a ladder.

Pure text builders (tested against exact strings) and the one rule for failures: say what went
wrong on stderr, then the next step to take, e.g. "node not in pairing mode" then "press its
button". Never given a passkey or a key, so none can be printed.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TextIO

from gateway.config import Pairing, Position
from gateway.core.events import Crossing, Health
from gateway.errors import BleError, ConfigError, DoorcountError, NotBondedError, PairingError
from gateway.installer import steps
from gateway.installer.audit import AuditResult, Correction
from gateway.installer.walktest import (
    Finding,
    Ignored,
    NotCounted,
    Observation,
    Prompt,
    Verdict,
    WalkResult,
)
from gateway.protocol import wire

SERVICE_UNIT = "doorcount-gateway"


class StepError(DoorcountError, RuntimeError):
    """An installer command failed; `next_step` tells the installer what to do about it."""

    def __init__(self, message: str, next_step: str) -> None:
        self.next_step = next_step
        super().__init__(message)


def fail(message: str, next_step: str, err: TextIO | None = None) -> int:
    """Print a failure and its next step on stderr; the command's exit code (1)."""
    out = err or sys.stderr
    print(f"error: {message}", file=out)
    print(f"next:  {next_step}", file=out)
    return 1


def warn(message: str, next_step: str, err: TextIO | None = None) -> None:
    """A problem that did not stop the command (another node's stale bond), with its fix."""
    out = err or sys.stderr
    print(f"warning: {message}", file=out)
    print(f"next:  {next_step}", file=out)


def next_step_for(exc: BaseException) -> str:  # noqa: PLR0911 - one next step per error kind
    """The installer's next step for an error that did not come with one."""
    if isinstance(exc, StepError):
        return exc.next_step
    if isinstance(exc, PairingError):  # the flows name the node; only a typo gets here
        return "type the 6 digits printed on the node's label, e.g. --passkey 042913"
    if isinstance(exc, NotBondedError):  # each flow tells it with the node's id; a fallback
        return steps.stale_bond_step(exc.address or "the node", [])
    if isinstance(exc, ConfigError):
        if "cannot read config" in str(exc):
            return (
                "pass --config with the path of the gateway's config file, or set "
                "DOORCOUNT_CONFIG to it (docs/deploy.md has an example)"
            )
        return "fix the config file (or the pairing registry) as the message says"
    if isinstance(exc, PermissionError):
        return "run it as the gateway's user or with sudo (the state directory is not yours)"
    if isinstance(exc, BleError | TimeoutError | ConnectionError):
        return (
            "check the node is powered (LED blip every 5 s) and within a few metres; "
            f"if the gateway service is running it holds the links: sudo systemctl stop "
            f"{SERVICE_UNIT}"
        )
    return "run it again with -v for details"


def is_address(text: str) -> bool:
    """A BLE address like F4:12:FA:3B:00:9A (as opposed to a node id)."""
    parts = text.split(":")
    return len(parts) == 6 and all(
        len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts
    )


def clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


# scan ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScanRow:
    address: str
    rssi: int
    node: str | None
    pairing_open: bool
    paired: list[Pairing]
    bonded_elsewhere: bool = False
    """The node advertises a bond, but not one this gateway knows."""
    bonded_here: bool = False
    """This gateway holds a bond with the node (known on the bumble backend only)."""


def scan_lines(rows: list[ScanRow]) -> list[str]:
    if not rows:
        return []
    lines = [f"{len(rows)} node{'s' if len(rows) != 1 else ''} nearby, strongest first:"]
    for row in rows:
        name = row.node or "?"
        mode = "PAIRING" if row.pairing_open else "-"
        if row.paired:
            where = ", ".join(f"{p.door} {p.position}" for p in row.paired)
            state = f"paired: {where}"
        elif row.bonded_here:
            state = "bonded, no door: pair it again"
        elif row.bonded_elsewhere:
            state = "not paired here (bonded elsewhere)"
        else:
            state = "not paired"
        lines.append(f"{row.rssi:>4} dBm  {name:<12} {row.address}  {mode:<7}  {state}")
    return lines


# pair / unpair -------------------------------------------------------------------------------


def beam_name(pairing: Pairing) -> str:
    return f"{pairing.door} {pairing.position} (beam {pairing.beam})"


def paired_lines(node: str, address: str, added: list[Pairing], door_ready: bool) -> list[str]:
    where = " + ".join(beam_name(p) for p in added)
    lines = [f"paired {node} ({address})", f"  door {where}"]
    door = added[0].door
    if door_ready:
        lines.append(f"next: doorcount walktest --door {door}")
    else:
        missing = "inner" if added[0].position == "outer" else "outer"
        lines.append(f"next: {steps.pair_beam_step(door, missing)}")
    return lines


# doors ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BeamView:
    position: Position
    node: str | None
    beam: int = 0
    source: str = ""
    """"pairing" or "config"; empty when the beam is not set."""


@dataclass(frozen=True, slots=True)
class NodeView:
    node: str
    address: str | None
    rssi: int | None = None
    status: wire.Status | None = None
    problem: str | None = None
    firmware: str | None = None


def door_lines(name: str, beams: list[BeamView]) -> list[str]:
    missing = [b.position for b in beams if b.node is None]
    head = f"{name}: " + ("ready" if not missing else f"NOT READY (no {' or '.join(missing)} beam)")
    lines = [head]
    for b in beams:
        if b.node is not None:
            lines.append(f"  {b.position:<5} {b.node}/{b.beam}  ({b.source})")
    return lines


def node_line(view: NodeView) -> str:
    where = view.address or "no address"
    if view.problem is not None:
        return f"  {view.node:<12} {where}  {view.problem}"
    parts = [f"  {view.node:<12} {where}"]
    if view.rssi is not None:
        parts.append(f"{view.rssi} dBm")
    status = view.status
    if status is not None:
        if status.battery_pct is not None:
            parts.append(f"battery {status.battery_pct}%")
        else:
            parts.append("mains")
        parts.append(beams_text(status.beams_broken))
        parts.append(f"up {duration(status.uptime_s)}")
        if status.ticks_dropped:
            parts.append(f"{status.ticks_dropped} ticks dropped")
    return "  ".join(parts)


def beams_text(mask: int) -> str:
    broken = [str(b) for b in range(8) if mask >> b & 1]
    return "beams clear" if not broken else f"BEAM {'+'.join(broken)} BROKEN"


def duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


# walktest ------------------------------------------------------------------------------------


def walk_intro(door: str, plan: tuple[str, ...]) -> list[str]:
    ins, outs = plan.count("in"), plan.count("out")
    ways = " and ".join(
        f"{n} time{'s' if n != 1 else ''} {d.upper()}" for n, d in ((ins, "in"), (outs, "out")) if n
    )
    return [
        f"door {door}: you will walk {ways}.",
        "Walk only when told, alone, at normal pace; then stay clear until the next prompt.",
        "(Ctrl-C ends the test early)",
    ]


def observation_line(obs: Observation) -> str:
    """One live line: a prompt, a walk's result, a crossing, a break not counted, health."""
    if isinstance(obs, Prompt):
        again = " (again)" if obs.again else ""
        return f"walk {obs.number} of {obs.of}{again}: walk {obs.direction.upper()} now"
    if isinstance(obs, WalkResult):
        return walk_line(obs)
    if isinstance(obs, Crossing):
        return f"    {clock(obs.t)}  crossing seen: stay clear until the next prompt"
    if isinstance(obs, Ignored):
        c = obs.crossing
        return (
            f"    {clock(c.t)}  {c.direction.upper()} by someone else (not during a walk): ignored"
        )
    if isinstance(obs, NotCounted):
        what = "a break" if obs.count == 1 else f"{obs.count} breaks"
        return f"    {clock(obs.t)}  {what} not counted (one beam only, or turned back)"
    return health_line(obs)


def walk_line(result: WalkResult) -> str:
    head = f"{result.number:>2}  {clock(result.t)}"
    if result.status == "missed":
        return f"{head}  no walk seen (you were asked to walk {result.asked.upper()})"
    if result.status == "crowded":
        return (
            f"{head}  {len(result.counted)} crossings at once: someone else walked too, not counted"
        )
    c = result.counted[0]
    mark = "ok" if result.status == "ok" else "WRONG WAY"
    return f"{head}  {c.direction.upper():<3}  conf {c.confidence:.2f}  {mark}"


def health_line(event: Health) -> str:
    where = f"{event.node}/{event.beam}" if event.beam is not None else event.node
    text = event.kind.replace("_", " ")
    detail = f": {event.detail}" if event.detail else ""
    return f"    {clock(event.t)}  {where} {text}{detail}"


def verdict_lines(verdict: Verdict) -> list[str]:
    decided = len(verdict.decided)
    extra = f", {verdict.ignored} by others ignored" if verdict.ignored else ""
    lines = [
        f"door {verdict.door}: {decided} of {len(verdict.plan)} walks counted, "
        f"{verdict.matching} the right way{extra}; beam breaks outer "
        f"{verdict.breaks.get('outer', 0)}, inner {verdict.breaks.get('inner', 0)}",
    ]
    if verdict.ok:
        lines.append("PASS: the door counts the right way")
    return lines


def finding_lines(findings: tuple[Finding, ...]) -> list[str]:
    lines = []
    for f in findings:
        lines.append(f"problem: {f.message}")
        lines.append(f"next:    {f.next_step}")
    return lines


# audit ---------------------------------------------------------------------------------------


def audit_lines(result: AuditResult) -> list[str]:
    minutes = (result.end - result.start) / 60
    lines = [f"door {result.door}: audit of {minutes:.1f} minutes"]
    lines += [f"  {r.line()}" for r in result.ratios]
    for r in result.ratios:
        if r.device:
            lines.append(f"  correction {r.direction.upper()}: x{r.factor:.3f}")
    return lines


def correction_lines(correction: Correction) -> list[str]:
    return [
        f"correction for door {correction.door} from {clock(correction.since)} "
        f"{time.strftime('%Y-%m-%d', time.localtime(correction.since))}: IN x"
        f"{correction.factor_in:.3f}, OUT x{correction.factor_out:.3f}; published counts are "
        "multiplied by it, raw counts kept beside them",
        "next: restart the gateway service so it applies the correction",
    ]
