"""Each remaining `next:` line, provoked: the failure happens, and the step says what to do."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from gateway.installer.auditrun import ask_total, parse_taps
from gateway.installer.view import StepError, finding_lines
from gateway.installer.walktest import WalkResult, judge
from gateway.protocol.trace import Direction
from sensor_sim.ble.link import RadioLink
from sensor_sim.ble.node import SimNode
from tests.support.ble import PASSKEY, nodes_on
from tests.support.installer import doorcount, write_config

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def radio() -> RadioLink:
    return RadioLink(interval=0.0)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path, ["front"])


async def test_scan_with_nothing_on_the_air(radio: RadioLink, config: Path) -> None:
    result = await doorcount(radio, config, "scan --seconds 0.5")
    assert result.rc == 1
    assert result.err.splitlines()[0] == "error: no doorcount node heard"
    assert "listen longer with --seconds 15" in result.err


async def test_commands_on_a_door_that_is_not_ready_or_not_there(
    radio: RadioLink, config: Path
) -> None:
    result = await doorcount(radio, config, "walktest --door front")
    assert result.err.splitlines() == [
        "error: door 'front' has no outer or inner beam yet",
        "next:  press the button on the node at door front's outer beam, then doorcount pair "
        "<the id on its label> --door front --position outer (doorcount scan shows its id once "
        "the button is pressed)",
    ]
    result = await doorcount(radio, config, "walktest --door front --walks 0")
    assert result.err.splitlines() == [
        "error: --walks must be at least 1, got 0",
        "next:  use e.g. --walks 2",
    ]
    result = await doorcount(radio, config, "live --seconds 1")
    assert result.err.splitlines() == [
        "error: no door is ready to watch (each needs an outer and an inner beam)",
        "next:  doorcount doors shows what is missing",
    ]
    result = await doorcount(radio, config, "audit --door garage")
    assert result.err.splitlines()[0] == "error: door 'garage' is not in the config"
    assert 'next:  add [[doors]] name = "garage" to' in result.err


async def test_a_paired_node_that_is_off_is_not_heard(
    radio: RadioLink, config: Path, tmp_path: Path
) -> None:
    async with nodes_on(radio, ["n01"], tmp_path) as (n01,):
        n01.peripheral.open_pairing_window()
        line = f"pair n01 --door front --position both --passkey {PASSKEY} --scan-seconds 1"
        assert (await doorcount(radio, config, line)).rc == 0
    # n01 is powered off now.
    result = await doorcount(radio, config, "identify n01 --scan-seconds 0.5")
    assert result.rc == 1
    assert result.err.splitlines()[0] == f"error: node n01 ({n01.address}) not heard"
    assert "next:  check it is powered (LED blip every 5 s) and within a few metres" in result.err


async def test_pairing_the_wrong_node_in_pairing_mode(
    radio: RadioLink, config: Path, tmp_path: Path
) -> None:
    async with nodes_on(radio, ["n01", "n02"], tmp_path) as (_, n02):
        n02.peripheral.open_pairing_window()
        line = f"pair {n02.address} --door front --position outer --passkey {PASSKEY}"
        assert (await doorcount(radio, config, line + " --scan-seconds 1")).rc == 0
        # The installer means n01 but only n02's window is open.
        result = await doorcount(radio, config, "unpair n02")
        assert result.rc == 0
        n02.peripheral.open_pairing_window()
        line = f"pair n01 --door front --position outer --passkey {PASSKEY} --scan-seconds 1"
        result = await doorcount(radio, config, line)
    assert result.rc == 1
    # n02 was asked for its id, said n02, and is left alone (no bond made with it).
    assert result.err.splitlines() == [
        "error: node n01 not heard in pairing mode",
        "next:  press the button on n01 (its LED blinks slowly), then run this again",
    ]


def test_audit_input_that_cannot_be_read() -> None:
    assert [t.direction for t in parse_taps("iio", 1.0)[0]] == ["in", "in", "out"]
    assert parse_taps("q", 1.0) == ([], True)
    with pytest.raises(StepError) as info:
        parse_taps("x", 1.0)
    assert info.value.next_step == "type i (in) or o (out) per person, q to end"
    with pytest.raises(StepError) as info:
        ask_total("people IN by hand: ", io.StringIO("lots\n"))
    assert info.value.next_step == "run the audit again and type the totals you counted"


async def test_a_door_node_whose_address_answers_as_another_node(
    radio: RadioLink, config: Path, tmp_path: Path
) -> None:
    async with nodes_on(radio, ["n01"], tmp_path) as (n01,):
        n01.peripheral.open_pairing_window()
        line = f"pair n01 --door front --position both --passkey {PASSKEY} --scan-seconds 1"
        assert (await doorcount(radio, config, line)).rc == 0
    # The same board, re-provisioned as n07: same address, same bond, another node id.
    n07 = SimNode("n07", PASSKEY, radio, keystore=tmp_path / "node-n01.json", address=n01.address)
    await n07.start()
    try:
        result = await doorcount(radio, config, "walktest --door front --connect-timeout 3")
        assert result.rc == 1
        assert result.err.splitlines() == [
            "error: not connected to n01 (wrong_node: it says it is 'n07', not 'n01')",
            "next:  if n07 is the node on this door now: doorcount unpair n01, press the button "
            "on n07, then doorcount pair n07 --door front --position both",
        ]
        # The step, followed as printed: the door is ready with n07 and its node answers.
        assert (await doorcount(radio, config, "unpair n01")).rc == 0
        n07.peripheral.open_pairing_window()
        line = f"pair n07 --door front --position both --passkey {PASSKEY} --scan-seconds 1"
        assert (await doorcount(radio, config, line)).rc == 0
        result = await doorcount(radio, config, "doors --seconds 2")
    finally:
        await n07.close()
    assert result.rc == 0, result.text
    assert "front: ready" in result.out
    assert "  outer n07/0  (pairing)" in result.out


async def test_unpair_a_node_that_is_not_paired(radio: RadioLink, config: Path) -> None:
    result = await doorcount(radio, config, "unpair n99")
    assert result.err.splitlines() == [
        "error: node n99 is not paired with this gateway",
        "next:  check the node id on its label; doorcount scan lists the nodes nearby and "
        "whether they are paired",
    ]
    result = await doorcount(radio, config, "unpair F4:12:FA:3B:00:09")
    assert result.err.splitlines() == [
        "error: node F4:12:FA:3B:00:09 is not paired with this gateway: no bond, no door",
        "next:  nothing to unpair; to pair it: press the button on F4:12:FA:3B:00:09, then "
        "doorcount pair F4:12:FA:3B:00:09 --door <the door it is mounted on> --position "
        "<outer, inner or both> (doorcount doors shows each door's free beams)",
    ]


async def test_doors_offline_names_each_missing_beam_and_the_pair_command(
    radio: RadioLink, config: Path
) -> None:
    result = await doorcount(radio, config, "doors --offline")
    assert result.rc == 1
    assert result.err.splitlines() == [
        "error: door front has no outer beam",
        "next:  press the button on the node at door front's outer beam, then doorcount pair "
        "<the id on its label> --door front --position outer (doorcount scan shows its id once "
        "the button is pressed)",
        "error: door front has no inner beam",
        "next:  press the button on the node at door front's inner beam, then doorcount pair "
        "<the id on its label> --door front --position inner (doorcount scan shows its id once "
        "the button is pressed)",
    ]


def test_walks_missed_or_crowded_say_how_to_walk_the_test_again() -> None:
    plan: tuple[Direction, ...] = ("in", "out")
    results = (
        WalkResult(1, "in", "crowded", 0.0),
        WalkResult(2, "out", "missed", 5.0),
    )
    verdict = judge("front", plan, results, {"outer": 3, "inner": 3}, 0)
    assert finding_lines(verdict.findings) == [
        "problem: 1 walk had someone else crossing at the same time",
        "next:    run the test when the door is quiet, or ask people to wait a moment",
        "problem: 0 of 2 walks counted",
        "next:    walk through when told, one at a time, and run the test again",
    ]
