"""The walk test: its sans-IO decision logic on hand-built walks, then `doorcount walktest`
end to end on doors served by simulated BLE nodes (one wired backwards, its fix applied)."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from gateway.config import Pairing, load_config
from gateway.core.events import Crossing
from gateway.errors import ConfigError
from gateway.installer.view import finding_lines, observation_line, verdict_lines
from gateway.installer.walktest import NotCounted, WalkTest, judge, swap_door
from gateway.protocol.trace import BeamRef, DoorSpec, Tick
from sensor_sim.ble.link import RadioLink
from sensor_sim.ble.node import SimNode
from tests.support.ble import PASSKEY, nodes_on
from tests.support.enginekit import T0, Site, dual_beam_door, two_node_door
from tests.support.installer import doorcount, registry, until, walk, write_config


def run(test: WalkTest, ticks: Sequence[Tick], end: float) -> list[object]:
    """Feed ticks, advancing the clock in 0.1 s steps as the live command does."""
    seen: list[object] = []
    now = test.start
    for tick in ticks:
        while now + 0.1 < tick.rx:
            now += 0.1
            seen.extend(test.advance(now))
        seen.extend(test.feed(tick))
    while now < end:
        now += 0.1
        seen.extend(test.advance(now))
    return seen


def swapped(site: Site) -> DoorSpec:
    door = site.doors[0]
    return DoorSpec(door.door, door.inner, door.outer)


@pytest.mark.parametrize("make", [two_node_door, dual_beam_door])
def test_walks_in_the_right_way_pass(make: Callable[[], Site]) -> None:
    site = make()
    for k in range(3):
        site.walk(0, 1.0 + 3.0 * k, "in")
    test = WalkTest(site.doors[0], T0)
    seen = run(test, site.ticks(), T0 + 15)
    assert test.done
    verdict = test.verdict()
    assert verdict.ok, verdict.findings
    assert [c.direction for c in verdict.crossings] == ["in", "in", "in"]
    assert verdict.breaks == {"outer": 3, "inner": 3}
    assert sum(isinstance(s, Crossing) for s in seen) == 3
    assert verdict_lines(verdict)[-1] == "PASS: the door counts the right way"


@pytest.mark.parametrize("make", [two_node_door, dual_beam_door])
def test_a_door_wired_backwards_is_found_swapped(make: Callable[[], Site]) -> None:
    site = make()
    for k in range(3):
        site.walk(0, 1.0 + 3.0 * k, "in")  # the physical truth
    test = WalkTest(swapped(site), T0)  # what the gateway was told
    run(test, site.ticks(), T0 + 15)
    verdict = test.verdict()
    assert verdict.swapped
    assert [f.kind for f in verdict.findings] == ["swapped"]
    assert verdict.findings[0].message == (
        "3 of 3 walks counted OUT while you walked IN: outer and inner look swapped"
    )


def test_one_wrong_walk_of_three_is_mixed_not_swapped() -> None:
    crossings = tuple(Crossing("front", d, T0, "single", 0.9, T0) for d in ("in", "in", "out"))
    verdict = judge("front", "in", 3, crossings, {"outer": 3, "inner": 3}, 0)
    assert [f.kind for f in verdict.findings] == ["mixed"]


def test_a_beam_that_never_breaks_is_named() -> None:
    site = two_node_door()
    for k in range(3):  # only the outer beam sees anyone: the inner one is misaligned
        site.add("o1", 0, 1.0 + 3.0 * k, 1.25 + 3.0 * k)
    test = WalkTest(site.doors[0], T0)
    seen = run(test, site.ticks(), T0 + 15)
    verdict = test.verdict()
    assert [(f.kind, f.position) for f in verdict.findings] == [("silent", "inner")]
    assert verdict.crossings == ()
    assert verdict.not_counted == 3  # each one-beam break was decided within the test
    assert any(isinstance(s, NotCounted) for s in seen)
    assert "the inner beam never broke" in finding_lines(verdict.findings)[0]


def test_nobody_walking_is_reported_as_no_breaks() -> None:
    test = WalkTest(two_node_door().doors[0], T0)
    run(test, [], T0 + 5)
    assert [f.kind for f in test.verdict().findings] == ["quiet"]


def test_a_stuck_beam_is_flagged() -> None:
    site = dual_beam_door()
    site.add("d1", 1, 1.0, 30.0)  # the inner beam goes dark for half a minute
    test = WalkTest(site.doors[0], T0)
    seen = run(test, site.ticks(), T0 + 40)
    verdict = test.verdict()
    assert [(f.kind, f.position) for f in verdict.findings] == [
        ("stuck", "inner"),
        ("silent", "outer"),
    ]
    assert any("beam stuck" in observation_line(s, 0, "in") for s in seen)  # type: ignore[arg-type]


def test_ticks_from_before_the_test_do_not_count() -> None:
    site = two_node_door()
    site.walk(0, -20.0, "out")  # a node's backlog from before the installer started
    site.walk(0, 2.0, "in")
    test = WalkTest(site.doors[0], T0, walks=1)
    run(test, site.ticks(), T0 + 10)
    verdict = test.verdict()
    assert [c.direction for c in verdict.crossings] == ["in"]
    assert verdict.ok


def test_swap_door_flips_only_that_door_and_needs_both_beams_from_pairing() -> None:
    now = time.time()
    registry_ = [
        Pairing(
            node="a", address="C0:00:00:00:00:01", door="front", position="outer", paired_at=now
        ),
        Pairing(
            node="b", address="C0:00:00:00:00:02", door="front", position="inner", paired_at=now
        ),
        Pairing(
            node="c", address="C0:00:00:00:00:03", door="back", position="outer", paired_at=now
        ),
    ]
    fixed = swap_door(registry_, "front")
    assert [(p.node, p.position) for p in fixed] == [("a", "inner"), ("b", "outer"), ("c", "outer")]
    with pytest.raises(ConfigError, match="config file"):
        swap_door(registry_, "back")


# End to end over BLE -------------------------------------------------------------------------


async def walk_test(
    radio: RadioLink,
    config: Path,
    outer: tuple[SimNode, int],
    inner: tuple[SimNode, int],
    args: str = "",
    stdin: str = "",
) -> tuple[int, str, str]:
    """Run `doorcount walktest` and, once it asks for walks, walk IN three times."""
    out = io.StringIO()
    command = asyncio.ensure_future(
        doorcount(radio, config, f"walktest --door front {args}", stdin=stdin, out=out)
    )
    await until(lambda: "walk IN" in out.getvalue() or command.done())
    for _ in range(3):
        if command.done():
            break
        await walk(outer, inner, "in")
        await asyncio.sleep(1.2)
    result = await command
    return result.rc, result.out, result.err


async def pair(radio: RadioLink, config: Path, node: SimNode, position: str) -> None:
    node.peripheral.open_pairing_window()
    line = f"pair {node.node_id} --door front --position {position} --passkey {PASSKEY}"
    result = await doorcount(radio, config, line + " --scan-seconds 0.5")
    node.peripheral.open_pairing_window(0)
    assert result.rc == 0, result.text


@pytest.mark.timeout(90)
async def test_walktest_finds_a_door_wired_backwards_and_fixes_the_registry(
    tmp_path: Path,
) -> None:
    radio = RadioLink(interval=0.0)
    config = write_config(tmp_path, ["front"])
    async with nodes_on(radio, ["n01", "n02"], tmp_path) as (n01, n02):
        # Physically n01 is the outer beam, n02 the inner one; the installer paired them
        # the other way round.
        await pair(radio, config, n01, "inner")
        await pair(radio, config, n02, "outer")
        radio.interval = 0.015  # a real connection interval for the live part
        rc, out, err = await walk_test(
            radio, config, (n01, 0), (n02, 0), "--yes --connect-timeout 20"
        )
    assert rc == 0, out + err
    lines = out.splitlines()
    assert lines[0] == "connected to n02, n01"
    walks = [line for line in lines if "conf" in line]
    assert len(walks) == 3
    assert all(" OUT " in line and line.endswith("WRONG WAY") for line in walks)
    assert "outer and inner look swapped" in err
    assert "fixed: door front outer and inner swapped" in out
    positions = {p.node: p.position for p in registry(config)}
    assert positions == {"n01": "outer", "n02": "inner"}
    [spec] = load_config(config).door_specs()
    assert spec == DoorSpec("front", BeamRef("n01", 0), BeamRef("n02", 0))


@pytest.mark.timeout(90)
async def test_walktest_passes_a_dual_beam_door_counting_right(tmp_path: Path) -> None:
    radio = RadioLink(interval=0.0)
    config = write_config(tmp_path, ["front"])
    async with nodes_on(radio, ["d1"], tmp_path) as (d1,):
        await pair(radio, config, d1, "both")
        before = registry(config)
        radio.interval = 0.015
        rc, out, err = await walk_test(radio, config, (d1, 0), (d1, 1), stdin="y\n")
    assert rc == 0, out + err
    walks = [line for line in out.splitlines() if "conf" in line]
    assert len(walks) == 3
    assert all(" IN " in line and line.endswith("ok") for line in walks)
    assert out.splitlines()[-1] == "PASS: the door counts the right way"
    assert err == ""
    assert registry(config) == before


@pytest.mark.timeout(60)
async def test_walktest_reports_a_node_that_lost_its_bond_and_counts_nothing(
    tmp_path: Path,
) -> None:
    radio = RadioLink(interval=0.0)
    config = write_config(tmp_path, ["front"])
    async with nodes_on(radio, ["d1"], tmp_path) as (d1,):
        await pair(radio, config, d1, "both")
        (tmp_path / "state" / "ble-keys.json").unlink()  # the gateway's bond is gone
        result = await doorcount(radio, config, "walktest --door front --connect-timeout 3")
    assert result.rc == 1
    assert "d1 not bonded" in result.out
    assert "error: not connected to d1" in result.err
    assert "pair that node again" in result.err
    assert "conf" not in result.out
