"""`doorcount commission report`: one HTML file per site that says how the site was left.

Doors and their beams, nodes (firmware, RSSI, battery, uptime), the latest walk test and
audit per door, accepted corrections, and open warnings with their next steps; two pictures
(matplotlib PNGs embedded in the file, so it travels as one attachment): each door's audited
count ratio with its 95% interval, and each node's signal and battery.
"""

from __future__ import annotations

import base64
import html
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError
from gateway.installer.audit import AuditResult, load_audits
from gateway.installer.doors import doors as look
from gateway.installer.records import load_walktests
from gateway.installer.site import Site
from gateway.installer.view import BeamView, NodeView, duration
from gateway.pipeline.corrections import Correction, load_corrections

RSSI_WEAK = -80
"""dBm below which a node's link is marked weak in the report."""


@dataclass(frozen=True, slots=True)
class Commissioning:
    site: str
    generated: float
    doors: list[tuple[str, list[BeamView]]]
    nodes: dict[str, NodeView]
    walktests: dict[str, dict[str, Any]]
    audits: dict[str, AuditResult]
    corrections: dict[str, Correction]
    warnings: list[tuple[str, str]]


async def gather(site: Site, *, offline: bool, seconds: float) -> Commissioning:
    from gateway.installer.doors import layout

    report = await look(site, offline=offline, seconds=seconds)
    doors, _ = layout(site)
    state = site.config.state_dir
    walktests = {w["door"]: w for w in sorted(load_walktests(state), key=lambda w: w["at"])}
    audits = {a.door: a for a in sorted(load_audits(state), key=lambda a: a.at)}
    warnings = list(report.problems)
    for name, _ in doors:
        w = walktests.get(name)
        if w is None:
            warnings.append((f"door {name} has no walk test", f"doorcount walktest --door {name}"))
        elif not w["ok"]:
            warnings.append(
                (f"door {name}'s last walk test did not pass", f"doorcount walktest --door {name}")
            )
        if name not in audits:
            warnings.append(
                (f"door {name} has no audit", f"doorcount audit --door {name} (a hand count)")
            )
    for view in report.health.values():
        if view.rssi is not None and view.rssi < RSSI_WEAK:
            where = " and ".join(
                dict.fromkeys(name for name, beams in doors for b in beams if b.node == view.node)
            )
            warnings.append(
                (
                    f"node {view.node}: weak signal ({view.rssi} dBm, below {RSSI_WEAK})",
                    f"move the gateway or its antenna closer to door {where}, or add a gateway "
                    f"nearer it; doorcount doors shows {view.node}'s signal again",
                )
            )
    return Commissioning(
        _site_name(site),
        time.time(),
        doors,
        report.health,
        walktests,
        audits,
        load_corrections(state),
        warnings,
    )


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def audit_chart(audits: dict[str, AuditResult]) -> str | None:
    """Count ratio per door and direction with its 95% interval; None without audits."""
    if not audits:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.9 + 0.6 * len(audits)))
    try:
        labels, ratios, lows, highs = [], [], [], []
        for door, result in sorted(audits.items()):
            for r in result.ratios:
                labels.append(f"{door} {r.direction.upper()}")
                ratios.append(100 * r.ratio)
                lows.append(100 * (r.ratio - r.low))
                highs.append(100 * min(r.high - r.ratio, 1.0))
        y = list(range(len(labels)))
        ax.errorbar(ratios, y, xerr=[lows, highs], fmt="o", color="#1f5fa8", capsize=4)
        ax.axvline(100, color="#2a9d3a", linestyle="--", linewidth=1)
        ax.set_yticks(y, labels)
        ax.invert_yaxis()
        ax.set_xlabel("device count / hand count, % (95% interval)")
        ax.set_title("Audit: how each door counts against a hand count")
        ax.grid(axis="x", alpha=0.3)
        return _png(fig)
    finally:
        plt.close(fig)


def nodes_chart(nodes: dict[str, NodeView]) -> str | None:
    """RSSI and battery per node; None when no node was reached."""
    seen = [v for v in sorted(nodes.values(), key=lambda v: v.node) if v.rssi is not None]
    if not seen:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 0.9 + 0.45 * len(seen)), sharey=True)
    try:
        names = [v.node for v in seen]
        rssi = [float(v.rssi or 0) for v in seen]
        colours = ["#c0392b" if r < RSSI_WEAK else "#2a9d3a" for r in rssi]
        left.barh(names, [r + 100 for r in rssi], left=-100, color=colours)
        left.axvline(RSSI_WEAK, color="#888", linestyle="--", linewidth=1)
        left.set_xlim(-100, -30)
        left.set_xlabel("RSSI, dBm (dashed: weak)")
        left.invert_yaxis()
        battery = [
            float(v.status.battery_pct)
            if v.status is not None and v.status.battery_pct is not None
            else 0.0
            for v in seen
        ]
        right.barh(names, battery, color="#1f5fa8")
        right.set_xlim(0, 100)
        right.set_xlabel("battery, % (0: mains or unknown)")
        fig.suptitle("Nodes: signal and battery at commissioning")
        return _png(fig)
    finally:
        plt.close(fig)


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def day(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def walk_text(w: dict[str, Any] | None) -> str:
    if w is None:
        return "none"
    verdict = "PASS" if w["ok"] else "FAIL"
    return (
        f"{verdict}: {w['counted']} of {w['walks']} walks counted, {w['right_way']} the right "
        f"way ({day(w['at'])})"
    )


def audit_text(a: AuditResult | None) -> str:
    if a is None:
        return "none"
    return (
        "; ".join(
            f"{r.direction.upper()} {100 * r.ratio:.1f}% "
            f"({100 * r.low:.1f}-{100 * r.high:.1f}%, hand {r.hand}, device {r.device})"
            for r in a.ratios
        )
        + f" ({day(a.at)})"
    )


def correction_text(fix: Correction | None) -> str:
    if fix is None:
        return "none"
    return f"IN x{fix.factor_in:.3f}, OUT x{fix.factor_out:.3f} since {day(fix.since)}"


def render(c: Commissioning) -> str:
    when = day(c.generated)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Commissioning report: {html.escape(c.site)}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;"
        "padding:.3em .6em;text-align:left}th{background:#f3f3f3}.ok{color:#2a7d32}"
        ".warn{color:#b03a2e}img{max-width:100%}</style></head><body>",
        f"<h1>Commissioning report: {html.escape(c.site)}</h1>",
        f"<p>Generated {when}. {len(c.doors)} door(s), {len(c.nodes)} node(s) reached, "
        f"{len(c.warnings)} open warning(s).</p>",
        "<h2>Doors</h2>",
    ]
    rows = []
    for name, beams in c.doors:
        beam_text = ", ".join(
            f"{b.position} {b.node}/{b.beam}" if b.node else f"{b.position} MISSING" for b in beams
        )
        rows.append(
            [
                name,
                beam_text,
                walk_text(c.walktests.get(name)),
                audit_text(c.audits.get(name)),
                correction_text(c.corrections.get(name)),
            ]
        )
    head = ["door", "beams", "walk test", "audit (count ratio, 95% CI)", "correction"]
    parts.append(_table(head, rows))
    chart = audit_chart(c.audits)
    if chart:
        parts.append(f"<img alt='audit count ratios' src='data:image/png;base64,{chart}'>")
    parts.append("<h2>Nodes</h2>")
    node_rows = []
    for v in sorted(c.nodes.values(), key=lambda v: v.node):
        s = v.status
        node_rows.append(
            [
                v.node,
                v.address or "-",
                v.firmware or "-",
                "-" if v.rssi is None else f"{v.rssi} dBm",
                "-" if s is None else ("mains" if s.battery_pct is None else f"{s.battery_pct}%"),
                "-" if s is None else duration(s.uptime_s),
                v.problem or "ok",
            ]
        )
    parts.append(
        _table(["node", "address", "firmware", "RSSI", "battery", "up", "state"], node_rows)
        if node_rows
        else "<p>No node was reached (offline report).</p>"
    )
    chart = nodes_chart(c.nodes)
    if chart:
        parts.append(f"<img alt='node signal and battery' src='data:image/png;base64,{chart}'>")
    parts.append("<h2>Open warnings</h2>")
    if c.warnings:
        parts.append(
            "<ul>"
            + "".join(
                f"<li class='warn'>{html.escape(m)}<br><small>next: {html.escape(s)}</small></li>"
                for m, s in c.warnings
            )
            + "</ul>"
        )
    else:
        parts.append("<p class='ok'>None: every door is ready, tested and audited.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _site_name(site: Site) -> str:
    if site.config.site is None:
        raise ConfigError(f"a commissioning report names its site: add site = ... to {site.path}")
    return site.config.site


def default_path(site: Site) -> Path:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in _site_name(site))
    return site.config.state_dir / f"commissioning-{safe}.html"
