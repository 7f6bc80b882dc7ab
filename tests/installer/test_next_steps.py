"""Each remaining `next:` line, provoked: the failure happens, and the step says what to do."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import pytest
from bumble.device import Connection, Device

from gateway.config import Pairing
from gateway.errors import LinkLostError, NoAnswerError, PairingError
from gateway.installer import steps
from gateway.installer.auditrun import ask_total, parse_taps
from gateway.installer.pairing_flow import link_failed, pair_again, pairing_failed
from gateway.installer.view import StepError, finding_lines
from gateway.installer.walktest import WalkResult, judge
from gateway.protocol.trace import Direction
from sensor_sim.ble.link import RadioLink
from sensor_sim.ble.node import SimNode
from tests.support.ble import PASSKEY, nodes_on
from tests.support.installer import _process_io, doorcount, pair, write_config

pytestmark = pytest.mark.timeout(60)
A = "DF:20:AE:51:2C:D7"


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
        await pair(radio, config, n01, "--door front --position both")
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
        await pair(radio, config, n01, "--door front --position both")
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
        await pair(radio, config, n07, "--door front --position both")
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


async def test_doors_on_a_config_without_doors_says_how_to_add_one(
    radio: RadioLink, tmp_path: Path
) -> None:
    config = write_config(tmp_path, [])
    result = await doorcount(radio, config, "doors --offline")
    assert result.rc == 1
    assert result.err.splitlines() == [
        "error: the config lists no doors",
        f"next:  add a [[doors]] table per doorway to {config}, each with the name you choose "
        '(a line [[doors]], then name = "entrance"); docs/deploy.md shows a complete config',
    ]


async def test_a_door_node_from_the_config_file_without_an_address_says_pair_it_there(
    radio: RadioLink, tmp_path: Path
) -> None:
    door = '[[nodes]]\nid = "n05"\n[[nodes]]\nid = "n06"\n'
    door += '[[doors]]\nname = "front"\nouter = { node = "n05", beam = 2 }\n'
    door += 'inner = { node = "n06", beam = 0 }\n'
    config = write_config(tmp_path, [], door)
    result = await doorcount(radio, config, "walktest --door front")
    assert result.rc == 1
    assert result.err.splitlines() == [
        "error: node n05 of door front has no BLE address",
        "next:  press the button on n05, then doorcount pair n05 --door front --position outer "
        "--beam 2",
    ]


async def test_door_nodes_that_are_off_are_named_in_the_next_step(
    radio: RadioLink, config: Path, tmp_path: Path
) -> None:
    async with nodes_on(radio, ["n01", "n02"], tmp_path) as (n01, n02):
        for node, position in ((n01, "outer"), (n02, "inner")):
            await pair(radio, config, node, f"--door front --position {position}")
        await n02.close()  # its battery pulled
        walked = await doorcount(radio, config, "walktest --door front --connect-timeout 2")
        doors = await doorcount(radio, config, "doors --seconds 1")
    assert walked.rc == 1
    assert walked.err.splitlines() == [
        "error: not connected to n02 (not heard)",
        "next:  check n02 is powered (LED blip every 5 s) and within a few metres; if the "
        "gateway service is running it holds the links: sudo systemctl stop doorcount-gateway",
    ]
    assert doors.rc == 1
    assert doors.err.splitlines() == [
        "error: node n02: not heard",
        "next:  check it is powered (LED blip every 5 s) and within a few metres; if the "
        "gateway service is running it holds the links: sudo systemctl stop doorcount-gateway",
    ]


async def test_doors_on_a_node_that_refuses_a_gateway_which_lost_its_bond(
    radio: RadioLink, config: Path, tmp_path: Path
) -> None:
    async with nodes_on(radio, ["n01"], tmp_path) as (n01,):
        await pair(radio, config, n01, "--door front --position both")
        (tmp_path / "state" / "ble-keys.json").unlink()  # the gateway's bonds are gone
        result = await doorcount(radio, config, "doors --seconds 2")
    assert result.rc == 1
    assert result.err.splitlines() == [
        "error: node n01: refuses this gateway (no bond)",
        "next:  press the button on n01, then doorcount pair n01 --door front --position both",
    ]


async def test_identify_a_node_id_nobody_answers_to(
    radio: RadioLink, config: Path, tmp_path: Path
) -> None:
    async with nodes_on(radio, ["n01"], tmp_path):
        result = await doorcount(radio, config, "identify n09 --scan-seconds 1")
    assert result.rc == 1
    assert result.err.splitlines() == [
        "error: node n09 not heard",
        "next:  check the node id on its label; doorcount scan lists the nodes nearby",
    ]


async def test_identify_when_the_link_drops_names_the_node_and_the_command_again(
    radio: RadioLink, config: Path, tmp_path: Path
) -> None:
    async with nodes_on(radio, ["n01"], tmp_path) as (n01,):
        await pair(radio, config, n01, "--door front --position both")
        tasks: set[asyncio.Task[None]] = set()

        def on_encrypted() -> None:  # the link drops as soon as the bond is in use
            tasks.add(asyncio.get_running_loop().create_task(n01.drop_link()))

        def on_connection(connection: Connection) -> None:
            connection.once(Connection.EVENT_CONNECTION_ENCRYPTION_CHANGE, on_encrypted)

        n01.peripheral.device.on(Device.EVENT_CONNECTION, on_connection)
        result = await doorcount(radio, config, "identify n01 --seconds 5 --scan-seconds 1")
        doors = await doorcount(radio, config, "doors --seconds 1")
        await asyncio.gather(*tasks)
    assert doors.rc == 1
    assert doors.err.splitlines() == [
        "error: node n01: no status: disconnected while setting up (0x08)",
        "next:  check it is powered (LED blip every 5 s) and within a few metres; if the "
        "gateway service is running it holds the links: sudo systemctl stop doorcount-gateway",
    ]
    assert result.rc == 1
    assert result.err.splitlines() == [
        "error: node n01 did not take the identify command (disconnected while setting up (0x08))",
        "next:  check n01 is powered (LED blip every 5 s) and within a few metres, then "
        "doorcount identify n01 --seconds 5",
    ]


async def test_pair_a_node_whose_listed_address_answers_as_another(
    radio: RadioLink, tmp_path: Path
) -> None:
    async with nodes_on(radio, ["n02"], tmp_path) as (n02,):
        # The config lists n01 at the address of the node that is in fact n02.
        config = write_config(
            tmp_path, ["front"], f'[[nodes]]\nid = "n01"\naddress = "{n02.address}"\n'
        )
        n02.peripheral.open_pairing_window()
        line = f"pair n01 --door front --position outer --passkey {PASSKEY} --scan-seconds 1"
        result = await doorcount(radio, config, line)
    assert result.rc == 1
    assert result.err.splitlines() == [
        f"error: the node at {n02.address} says it is 'n02', not 'n01'",
        f"next:  the node at that address is n02: to pair it, doorcount pair n02 --door front "
        f"--position outer; to pair n01, correct its address in {config} ([[nodes]] id = "
        '"n01") and press the button on n01',
    ]


async def test_a_malformed_passkey_typed_on_the_command_line(
    radio: RadioLink, config: Path
) -> None:
    result = await doorcount(radio, config, "pair n01 --door front --position outer --passkey 12")
    assert result.rc == 1
    assert result.err.splitlines() == [
        "error: the passkey must be the 6 digits on the node's label, got '12'",
        "next:  type the 6 digits printed on the node's label, e.g. --passkey 042913",
    ]


async def test_a_usb_dongle_that_is_not_there(tmp_path: Path) -> None:
    from gateway.cli import main

    config = write_config(tmp_path, ["front"])
    with _process_io("", "bumble:usb:0", io.StringIO()) as (_, err):
        rc = await asyncio.to_thread(main, ["scan", "--config", str(config), "--seconds", "1"])
    assert rc == 1
    lines = err.getvalue().splitlines()
    assert lines[0].startswith(
        "error: cannot open the gateway's Bluetooth adapter (cannot open bumble transport 'usb:0'"
    )
    assert lines[1:] == [
        f"next:  plug in the Bluetooth dongle for 'bumble:usb:0', or fix ble.backend in {config}"
    ]


async def test_audit_with_no_taps_says_how_to_count(
    radio: RadioLink, config: Path, tmp_path: Path
) -> None:
    async with nodes_on(radio, ["n01"], tmp_path) as (n01,):
        await pair(radio, config, n01, "--door front --position both")
        result = await doorcount(radio, config, "audit --door front", stdin="q\n")
    assert result.rc == 1
    assert result.err.splitlines() == [
        "error: no taps: nobody was counted by hand",
        "next:  run doorcount audit --door front again and type i or o for each person",
    ]


async def test_commission_report_tells_each_open_warning_with_its_next_step(
    radio: RadioLink, config: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path, ["front", "back"])
    async with nodes_on(radio, ["n01", "n02"], tmp_path) as (n01, n02):
        for node, door in ((n01, "front"), (n02, "back")):
            await pair(radio, config, node, f"--door {door} --position both")
        # A walk test nobody walked: it does not pass.
        result = await doorcount(radio, config, "walktest --door back --walks 1 --timeout 2")
        assert result.rc == 1
        radio.rssi[n02.address] = -88  # n02 is far from the gateway
        result = await doorcount(radio, config, "commission report --seconds 2")
    assert result.rc == 0, result.text
    assert result.out.splitlines()[1:] == [
        "  warning: door front has no walk test",
        "  next:    doorcount walktest --door front",
        "  warning: door front has no audit",
        "  next:    doorcount audit --door front (a hand count)",
        "  warning: door back's last walk test did not pass",
        "  next:    doorcount walktest --door back",
        "  warning: door back has no audit",
        "  next:    doorcount audit --door back (a hand count)",
        "  warning: node n02: weak signal (-88 dBm, below -80)",
        "  next:    move the gateway or its antenna closer to door back, or add a gateway "
        "nearer it; doorcount doors shows n02's signal again",
    ]


def test_the_docs_tables_show_the_next_steps_the_commands_print() -> None:
    """docs/installer.md's `next:` cells, against the builders the commands print them with
    (the page's example names: lobby-east, a dual-beam node on door lobby; n03; n01)."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "installer.md").read_text()
    cells = set(re.findall(r"`next: ([^`]+)`", doc))
    both = [
        Pairing(node="lobby-east", address=A, door="lobby", position=p, beam=b, paired_at=0.0)
        for p, b in (("outer", 0), ("inner", 1))
    ]
    n01 = [Pairing(node="n01", address=A, door="lobby", position="outer", paired_at=0.0)]
    again = pair_again("lobby-east", "lobby", "both", 0)
    config = Path("/etc/doorcount/doorcount.toml")
    printed = [
        pairing_failed("lobby-east", PairingError("x", A, "CONFIRM_VALUE_FAILED"), again),
        pairing_failed("lobby-east", PairingError("x", A, "PAIRING_NOT_SUPPORTED"), again),
        link_failed("lobby-east", LinkLostError("disconnected while pairing", A, 8), again),
        link_failed("lobby-east", NoAnswerError("no answer", A, 20.0), again),
    ]
    expected = [e.next_step for e in printed] + [
        steps.beam_taken_step("lobby-west", "lobby", "outer", "n03", ["inner"], 0),
        steps.beam_taken_step("lobby-west", "lobby", "inner", "n03", [], 0),
        steps.stale_bond_step("n01", n01),
        steps.stale_bond_step("lobby-east", both),
        steps.stale_bond_step(A, []),
        steps.not_bonded_step("lobby-east", both),
        steps.pair_beam_step("back", "outer"),
        steps.unreachable_step(),
        steps.adapter_step("bumble:usb:0", config),
        "nothing to unpair; to pair it: " + steps.not_bonded_step("n05", []),
        "pair it first: " + steps.not_bonded_step(A, []),
    ]
    assert [e for e in expected if e not in cells] == []
