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
from gateway.installer.walktest import (
    Ignored,
    NotCounted,
    Prompt,
    WalkResult,
    WalkStatus,
    WalkTest,
    judge,
    swap_door,
)
from gateway.protocol.trace import BeamRef, Direction, DoorSpec, Tick
from sensor_sim.ble.link import RadioLink
from sensor_sim.ble.node import SimNode
from tests.support.ble import PASSKEY, nodes_on
from tests.support.enginekit import T0, Site, dual_beam_door, two_node_door
from tests.support.installer import doorcount, registry, walk, write_config
from tests.support.walkers import play, swapped


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


@pytest.mark.parametrize("make", [two_node_door, dual_beam_door])
def test_walks_in_the_right_way_pass(make: Callable[[], Site]) -> None:
    site = make()
    test, seen = play(site, site.doors[0])
    assert test.done
    verdict = test.verdict()
    assert verdict.ok, verdict.findings
    assert [(r.asked, r.status) for r in verdict.results] == [
        ("in", "ok"),
        ("out", "ok"),
        ("in", "ok"),
        ("out", "ok"),
    ]
    assert verdict.breaks == {"outer": 4, "inner": 4}
    prompts = [observation_line(s) for s in seen if isinstance(s, Prompt)]  # type: ignore[arg-type]
    assert prompts == [
        "walk 1 of 4: walk IN now",
        "walk 2 of 4: walk OUT now",
        "walk 3 of 4: walk IN now",
        "walk 4 of 4: walk OUT now",
    ]
    assert verdict_lines(verdict)[-1] == "PASS: the door counts the right way"


@pytest.mark.parametrize("make", [two_node_door, dual_beam_door])
def test_a_door_wired_backwards_is_found_swapped_in_both_directions(
    make: Callable[[], Site],
) -> None:
    site = make()
    test, _ = play(site, swapped(site))  # the gateway was told outer and inner the wrong way
    verdict = test.verdict()
    assert verdict.swapped
    assert [f.kind for f in verdict.findings] == ["swapped"]
    assert verdict.findings[0].message == (
        "every walk counted the other way (2 IN walks counted OUT, 2 OUT walks counted IN): "
        "outer and inner are swapped"
    )


@pytest.mark.parametrize("seed", range(50))
@pytest.mark.parametrize("make", [two_node_door, dual_beam_door])
def test_background_traffic_never_makes_a_good_door_look_swapped(
    make: Callable[[], Site], seed: int
) -> None:
    site = make()
    site.seed = seed
    test, _ = play(site, site.doors[0], background=0.08, seed=seed)
    verdict = test.verdict()
    assert not verdict.swapped, verdict
    assert not any(f.kind in ("swapped", "unconfirmed") for f in verdict.findings), verdict
    # A walk made in the same instant as someone else's crossing the other way can come out
    # wrong (the beams cannot tell two people apart then): that is "mixed", walk again.
    wrong = [r for r in verdict.decided if r.status == "wrong"]
    assert len(wrong) <= 1, verdict.results
    if wrong:
        assert "mixed" in [f.kind for f in verdict.findings]


@pytest.mark.parametrize("make", [two_node_door, dual_beam_door])
def test_a_swapped_door_is_still_found_with_background_traffic(make: Callable[[], Site]) -> None:
    found = 0
    for seed in range(40):
        site = make()
        site.seed = seed
        test, _ = play(site, swapped(site), background=0.08, seed=seed)
        verdict = test.verdict()
        found += verdict.swapped
        # A miss is a walk merged with someone else's crossing: "mixed", never a wrong fix.
        assert verdict.swapped or "mixed" in [f.kind for f in verdict.findings], verdict
    assert found >= 36


def test_other_people_between_walks_are_ignored_and_a_crowded_walk_is_asked_again() -> None:
    site = two_node_door()
    site.walk(0, 0.3, "out")  # someone leaves before the first prompt's window
    test, seen = play(site, site.doors[0], walks=1, direction="in", obey=False, duration=3.0)
    assert any(isinstance(s, Ignored) for s in seen)
    site = two_node_door()
    test = WalkTest(site.doors[0], T0, walks=1, direction="in")
    [prompt] = [o for o in run(test, [], T0 + 1.5) if isinstance(o, Prompt)]
    site.walk(0, prompt.t - T0 + 1.0, "in")
    site.walk(0, prompt.t - T0 + 4.0, "out")  # someone else, inside the walk's window
    seen = run(test, [t for t in site.ticks() if t.rx > prompt.t], prompt.t + 12)
    results = [s for s in seen if isinstance(s, WalkResult)]
    assert results[0].status == "crowded"
    assert "someone else walked too, not counted" in observation_line(results[0])
    assert [p.again for p in seen if isinstance(p, Prompt)] == [True]


def test_one_direction_alone_never_proposes_a_swap() -> None:
    site = two_node_door()
    test, _ = play(site, swapped(site), walks=3, direction="in")
    verdict = test.verdict()
    assert not verdict.swapped
    assert [f.kind for f in verdict.findings] == ["unconfirmed"]
    assert verdict.findings[0].next_step == (
        "walk 2 times each way, alone: doorcount walktest --door front --direction both --walks 2"
    )


def test_one_wrong_walk_is_mixed_not_swapped() -> None:
    walks: list[tuple[Direction, WalkStatus]] = [
        ("in", "ok"),
        ("out", "wrong"),
        ("in", "wrong"),
        ("out", "wrong"),
    ]
    results = tuple(
        WalkResult(k, d, s, T0, (Crossing("front", d, T0, "single", 0.9, T0),))
        for k, (d, s) in enumerate(walks)
    )
    plan: tuple[Direction, ...] = ("in", "out", "in", "out")
    verdict = judge("front", plan, results, {"outer": 4, "inner": 4}, 0)
    assert finding_lines(verdict.findings) == [
        "problem: 3 of 4 walks counted the other way",
        "next:    walk straight through, one at a time, at normal pace; then run it again",
    ]


def test_a_beam_that_never_breaks_is_named() -> None:
    site = two_node_door()
    for k in range(3):  # only the outer beam sees anyone: the inner one is misaligned
        site.add("o1", 0, 1.0 + 3.0 * k, 1.25 + 3.0 * k)
    test = WalkTest(site.doors[0], T0, walks=1, direction="in")
    seen = run(test, site.ticks(), T0 + 30)
    seen += test.finish()
    verdict = test.verdict()
    assert [(f.kind, f.position) for f in verdict.findings] == [("silent", "inner")]
    assert verdict.decided == ()
    assert verdict.not_counted == 3  # each one-beam break was decided within the test
    assert any(isinstance(s, NotCounted) for s in seen)
    assert finding_lines(verdict.findings) == [
        "problem: the inner beam never broke",
        "next:    align the inner beam: in install mode the node's LED lights while a hand "
        "blocks it",
    ]


def test_nobody_walking_is_reported_as_no_breaks() -> None:
    test = WalkTest(two_node_door().doors[0], T0, walks=1)
    run(test, [], T0 + 5)
    test.finish()
    assert finding_lines(test.verdict().findings) == [
        "problem: no beam broke during the test",
        "next:    walk through the door; if you did, check both nodes are on and aligned "
        "(doorcount doors)",
    ]


def test_a_stuck_beam_is_flagged() -> None:
    site = dual_beam_door()
    site.add("d1", 1, 1.0, 30.0)  # the inner beam goes dark for half a minute
    test = WalkTest(site.doors[0], T0, walks=1)
    seen = run(test, site.ticks(), T0 + 40)
    seen += test.finish()
    verdict = test.verdict()
    assert [(f.kind, f.position) for f in verdict.findings][:2] == [
        ("stuck", "inner"),
        ("silent", "outer"),
    ]
    assert finding_lines(verdict.findings)[:2] == [
        "problem: the inner beam was broken for 20 s or more (stuck)",
        "next:    clear the doorway; look for a wedge, mat, tape or door leaf in that beam",
    ]
    assert any("beam stuck" in observation_line(s) for s in seen)  # type: ignore[arg-type]


def test_ticks_from_before_the_test_do_not_count() -> None:
    site = two_node_door()
    site.walk(0, -20.0, "out")  # a node's backlog from before the installer started
    test, _ = play(site, site.doors[0], walks=1, direction="in")
    verdict = test.verdict()
    assert [r.status for r in verdict.results] == ["ok"]
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
    """Run `doorcount walktest` and walk each time it says so, the way it says."""
    out = io.StringIO()
    command = asyncio.ensure_future(
        doorcount(radio, config, f"walktest --door front {args}", stdin=stdin, out=out)
    )
    walked = 0
    while not command.done():
        prompts = [line for line in out.getvalue().splitlines() if line.startswith("walk ")]
        if len(prompts) > walked:
            walked = len(prompts)
            await asyncio.sleep(0.5)
            await walk(outer, inner, prompts[-1].split()[-2].lower())
        await asyncio.sleep(0.05)
    result = await command
    return result.rc, result.out, result.err


async def pair(radio: RadioLink, config: Path, node: SimNode, position: str) -> None:
    node.peripheral.open_pairing_window()
    line = f"pair {node.node_id} --door front --position {position} --passkey {PASSKEY}"
    result = await doorcount(radio, config, line + " --scan-seconds 0.5")
    node.peripheral.open_pairing_window(0)
    assert result.rc == 0, result.text


@pytest.mark.timeout(90)
@pytest.mark.parametrize("answer", ["--yes", "n"])
async def test_walktest_finds_a_door_wired_backwards_and_fixes_the_registry(
    tmp_path: Path, answer: str
) -> None:
    radio = RadioLink(interval=0.0)
    config = write_config(tmp_path, ["front"])
    async with nodes_on(radio, ["n01", "n02"], tmp_path) as (n01, n02):
        # Physically n01 is the outer beam, n02 the inner one; the installer paired them
        # the other way round.
        await pair(radio, config, n01, "inner")
        await pair(radio, config, n02, "outer")
        radio.interval = 0.015  # a real connection interval for the live part
        args, stdin = ("--yes", "") if answer == "--yes" else ("", f"{answer}\n")
        rc, out, err = await walk_test(
            radio, config, (n01, 0), (n02, 0), f"{args} --connect-timeout 20", stdin
        )
    lines = out.splitlines()
    assert lines[0] == "connected to n02, n01"
    walks = [line for line in lines if "conf" in line]
    assert len(walks) == 4
    assert all(line.endswith("WRONG WAY") for line in walks)
    assert err.splitlines()[:2] == [
        "problem: every walk counted the other way (2 IN walks counted OUT, 2 OUT walks counted "
        "IN): outer and inner are swapped",
        "next:    swap outer and inner for this door (this command offers to), then walk again",
    ]
    if answer == "n":  # the installer says no: nothing changes, and how to do it later
        assert rc == 1
        assert err.splitlines()[2:] == [
            "error: outer and inner left as they are",
            "next:  swap them with doorcount walktest --door front --yes, or swap the heads",
        ]
        assert {p.node: p.position for p in registry(config)} == {"n01": "inner", "n02": "outer"}
        return
    assert rc == 0, out + err
    assert lines[-2:] == [
        f"fixed: door front outer and inner swapped in {config.parent / 'state' / 'pairings.json'}",
        "next: doorcount walktest --door front (then restart the gateway service)",
    ]
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
    prompts = [line for line in out.splitlines() if line.startswith("walk ")]
    assert prompts == [
        "walk 1 of 4: walk IN now",
        "walk 2 of 4: walk OUT now",
        "walk 3 of 4: walk IN now",
        "walk 4 of 4: walk OUT now",
    ]
    walks = [line for line in out.splitlines() if "conf" in line]
    assert len(walks) == 4
    assert all(line.endswith("ok") for line in walks)
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
    assert (
        "next:  press the button on d1, then doorcount pair d1 --door front --position both"
        in result.err
    )
    assert "conf" not in result.out


def config_with_beams(tmp_path: Path, address: str, beams: str) -> Path:
    """The config of `write_config`, door front's beams (`beams`) and node d1 in the file."""
    config = write_config(tmp_path, [])
    text = config.read_text(encoding="utf-8")
    text += f'[[doors]]\nname = "front"\n{beams}\n[[nodes]]\nid = "d1"\naddress = "{address}"\n'
    config.write_text(text, encoding="utf-8")
    return config


@pytest.mark.timeout(90)
async def test_walktest_on_a_swapped_door_from_the_config_file_says_the_exact_edit(
    tmp_path: Path,
) -> None:
    radio = RadioLink(interval=0.0)
    config = write_config(tmp_path, ["front"])
    async with nodes_on(radio, ["d1"], tmp_path) as (d1,):
        await pair(radio, config, d1, "both")  # the bond; the door's beams then go to the file
        (config.parent / "state" / "pairings.json").unlink()
        config = config_with_beams(
            tmp_path,
            d1.address,
            'outer = { node = "d1", beam = 1 }\ninner = { node = "d1", beam = 0 }',  # backwards
        )
        radio.interval = 0.015
        rc, out, err = await walk_test(radio, config, (d1, 0), (d1, 1), "--yes")
        assert rc == 1, out + err
        assert "outer and inner are swapped" in err
        assert err.splitlines()[-2:] == [
            f"error: door front's outer and inner beams come from {config}, which no doorcount "
            "command writes",
            f'next:  edit {config}: under [[doors]] name = "front" set outer = '
            '{ node = "d1", beam = 0 } and inner = { node = "d1", beam = 1 }, then doorcount '
            "walktest --door front (and restart the gateway service)",
        ]
        # The edit, made as printed: the door counts the right way.
        config = config_with_beams(
            tmp_path,
            d1.address,
            'outer = { node = "d1", beam = 0 }\ninner = { node = "d1", beam = 1 }',
        )
        rc, out, err = await walk_test(radio, config, (d1, 0), (d1, 1))
    assert rc == 0, out + err
    assert out.splitlines()[-1] == "PASS: the door counts the right way"


@pytest.mark.timeout(120)
async def test_walktest_on_a_swapped_door_half_from_the_config_file_says_the_exact_steps(
    tmp_path: Path,
) -> None:
    radio = RadioLink(interval=0.0)
    config = write_config(tmp_path, ["front"])
    async with nodes_on(radio, ["d1"], tmp_path) as (d1,):
        config = config_with_beams(tmp_path, d1.address, 'outer = { node = "d1", beam = 1 }')
        await pair(radio, config, d1, "inner")  # beam 0 as the inner one: backwards
        radio.interval = 0.015
        rc, out, err = await walk_test(radio, config, (d1, 0), (d1, 1), "--yes")
        assert rc == 1, out + err
        assert err.splitlines()[-2:] == [
            f"error: door front's outer beam comes from {config}, which no doorcount command "
            "writes",
            f'next:  doorcount unpair d1; edit {config}: under [[doors]] name = "front" replace '
            'outer = ... by inner = { node = "d1", beam = 1 }; press the button on d1, then '
            "doorcount pair d1 --door front --position outer; then doorcount walktest --door "
            "front",
        ]
        # The steps, followed as printed: the door counts the right way.
        radio.interval = 0.0
        assert (await doorcount(radio, config, "unpair d1")).rc == 0
        config = config_with_beams(tmp_path, d1.address, 'inner = { node = "d1", beam = 1 }')
        await pair(radio, config, d1, "outer")
        radio.interval = 0.015
        rc, out, err = await walk_test(radio, config, (d1, 0), (d1, 1))
    assert rc == 0, out + err
    assert out.splitlines()[-1] == "PASS: the door counts the right way"
