"""`doorcount walktest` live: connect the door's nodes, feed their ticks to a `WalkTest`.

Only the door under test is listened to. Lines to show go to `say` as they happen; the
verdict comes back for the command to judge and, for a swap, to ask about.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from gateway.installer import steps
from gateway.installer.site import Site
from gateway.installer.view import StepError, observation_line, walk_intro
from gateway.installer.walktest import Observation, Plan, Verdict, WalkTest, walk_plan
from gateway.protocol.trace import Tick
from gateway.sources.ble.backend import Backend
from gateway.sources.ble.ingest import Ingest, IngestConfig, NodeHealth, PairedNode, Report


def door_nodes(site: Site, door: str) -> list[PairedNode]:
    spec = site.door_spec(door)
    nodes = []
    for node in dict.fromkeys((spec.outer.node, spec.inner.node)):
        address = site.address_of(node)
        if address is None:
            held = [
                (p, r) for p, r in (("outer", spec.outer), ("inner", spec.inner)) if r.node == node
            ]
            where = "--position both"
            if len(held) == 1:
                position, ref = held[0]
                where = f"--position {position}" + (f" --beam {ref.beam}" if ref.beam else "")
            raise StepError(
                f"node {node} of door {door} has no BLE address",
                f"press the button on {node}, then doorcount pair {node} --door {door} {where}",
            )
        nodes.append(PairedNode(node, address))
    return nodes


def next_for_links(site: Site, failed: list[NodeHealth]) -> str:
    """The next step for door nodes that would not connect (their health, last error)."""
    for h in failed:
        error = h.last_error or ""
        if "not_bonded" in error:
            if "stored bond" in error:  # we hold a bond the node no longer has
                return site.stale_fix(h.node)
            entries = [p for p in site.pairings if p.node == h.node]
            return steps.not_bonded_step(h.node, entries)
    for h in failed:
        if h.answers_as is not None and (h.last_error or "").startswith("wrong_node"):
            entries = [p for p in site.pairings if p.node == h.node]
            return steps.wrong_node_step(h.node, h.answers_as, entries)
    names = " and ".join(h.node for h in failed)
    return (
        f"check {names} {'is' if len(failed) == 1 else 'are'} powered (LED blip every 5 s) "
        f"and within a few metres; {steps.STOP_SERVICE}"
    )


def door_ingest(
    site: Site,
    backend: Backend,
    nodes: list[PairedNode],
    on_ticks: Callable[[list[Tick]], None],
    on_report: Callable[[Report], None] | None = None,
) -> Ingest:
    """An ingest of these nodes for an installer session: quick retries, the site's timeouts."""
    ble = site.config.ble
    return Ingest(
        backend,
        nodes,
        on_ticks,
        config=IngestConfig(
            connect_timeout=ble.connect_timeout_s,
            silence_s=ble.silent_after_s,
            backoff_min=0.2,
            backoff_max=2.0,
            scan_timeout=5.0,
        ),
        on_report=on_report,
    )


def not_connected(site: Site, ingest: Ingest) -> StepError:
    """The error for nodes that did not connect in time, naming each and the next step."""
    missing = [h for h in ingest.health() if not h.connected]
    return StepError(
        "not connected to " + ", ".join(f"{h.node} ({link_problem(h)})" for h in missing),
        next_for_links(site, missing),
    )


def link_problem(health: NodeHealth) -> str:
    """Why a node would not connect, in the installer's words (the stack's detail with -v)."""
    error = health.last_error or ""
    if error.startswith("not_bonded"):
        if "stored bond" in error:
            return "it no longer holds this gateway's bond: reset, or paired elsewhere"
        return "it refuses this gateway: no bond"
    return error or "not heard"


async def run_walktest(
    site: Site,
    door: str,
    *,
    walks: int,
    direction: Plan,
    timeout: float,
    connect_timeout: float,
    say: Callable[..., None],
    stop: asyncio.Event,
) -> Verdict:
    if walks < 1:
        raise StepError(f"--walks must be at least 1, got {walks}", "use e.g. --walks 2")
    spec = site.door_spec(door)
    nodes = door_nodes(site, door)
    loop = asyncio.get_running_loop()
    test: WalkTest | None = None

    def show(observations: list[Observation]) -> None:
        for obs in observations:
            say(observation_line(obs))

    def on_ticks(ticks: list[Tick]) -> None:
        if test is not None:
            for tick in ticks:
                show(test.feed(tick))

    told: set[tuple[str, str]] = set()
    ending = False

    def on_report(report: Report) -> None:
        # Each problem once per node; retries, and the links we close ourselves, are noise.
        if ending or report.kind in ("connected", "malformed", "connect_failed"):
            return
        if (report.node, report.kind) not in told:
            told.add((report.node, report.kind))
            detail = f": {report.detail}" if report.detail else ""
            say(f"    {report.node} {report.kind.replace('_', ' ')}{detail}")

    backend = await site.open_backend()
    try:
        ingest = door_ingest(site, backend, nodes, on_ticks, on_report)
        await ingest.start()
        try:
            try:
                async with asyncio.timeout(connect_timeout):
                    while ingest.connected() < len(nodes):
                        if stop.is_set():
                            raise KeyboardInterrupt
                        await asyncio.sleep(0.05)
            except TimeoutError:
                raise not_connected(site, ingest) from None
            say(
                f"connected to {', '.join(n.node for n in nodes)}",
                *walk_intro(door, walk_plan(walks, direction)),
            )
            test = WalkTest(
                spec,
                time.time(),
                walks=walks,
                direction=direction,
                config=site.config.engine_config(),
            )
            deadline = loop.time() + timeout
            while not test.done and not stop.is_set() and loop.time() < deadline:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.1):
                        await stop.wait()
                show(test.advance(time.time()))
            if not test.done:
                show(test.finish())
        finally:
            ending = True
            await ingest.stop()
    finally:
        await backend.close()
    return test.verdict()
