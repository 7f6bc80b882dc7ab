"""Pairing that recovers: a stale bond on one node, and every `next:` line provoked.

Each test provokes one failure with the real command against simulated nodes and checks the
next step is exact (the command to type, with the values filled in) and names the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from bumble.device import Connection, Device

from sensor_sim.ble.link import RadioLink
from sensor_sim.ble.node import SimNode
from tests.support.ble import PASSKEY, nodes_on
from tests.support.installer import (
    Result,
    _process_io,
    doorcount,
    doorcount_process,
    pair,
    registry,
    write_config,
)

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def radio() -> RadioLink:
    return RadioLink(interval=0.0)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path, ["door1", "door2"])


async def run_with_backend(config: Path, line: str, spec: str) -> Result:
    """The command against a backend spec of our choosing (no dongle behind it)."""
    from gateway.cli import main

    command, *rest = line.split()
    with _process_io("", spec, io.StringIO()) as (out, err):
        rc = await asyncio.to_thread(main, [command, "--config", str(config), *rest])
    return Result(rc, out.getvalue(), err.getvalue())


@contextlib.asynccontextmanager
async def reset(
    radio: RadioLink, nodes: list[SimNode], tmp_path: Path, name: str
) -> AsyncIterator[list[SimNode]]:
    """The nodes after a reset: their bonds gone, pairing windows open (as `serve` starts)."""
    for node in nodes:
        await node.close()
    async with nodes_on(radio, [n.node_id for n in nodes], tmp_path / name) as fresh:
        for node in fresh:
            node.peripheral.open_pairing_window()
        yield fresh


async def test_a_stale_bond_on_one_node_never_blocks_another_and_its_fix_is_exact(
    radio: RadioLink, config: Path, tmp_path: Path
) -> None:
    (tmp_path / "before").mkdir()
    async with nodes_on(radio, ["n01", "n02"], tmp_path / "before") as nodes:
        await pair(radio, config, nodes[0], "--door door1 --position outer")
        (tmp_path / "after").mkdir()
        async with reset(radio, nodes, tmp_path, "after") as (n01, n02):
            result = await doorcount(radio, config, "unpair n02")
            assert result.rc == 1
            assert "n02 is not paired with this gateway" in result.err
            line = f"pair n02 --door door1 --position inner --passkey {PASSKEY} --scan-seconds 1"
            result = await doorcount(radio, config, line)
            assert result.rc == 0, result.text
            assert result.out.splitlines()[0] == f"paired n02 ({n02.address})"
            assert [(p.node, p.position) for p in registry(config)] == [
                ("n01", "outer"),
                ("n02", "inner"),
            ]
            # n01's stale bond is told with its exact fix, without blocking n02.
            assert "n01 no longer holds this gateway's bond" in result.err
            assert (
                "next:  doorcount unpair n01, press the button on n01, then "
                "doorcount pair n01 --door door1 --position outer" in result.err
            )
            assert "Traceback" not in result.text
            # Following the fix pairs n01 again.
            result = await doorcount(radio, config, "unpair n01")
            assert result.rc == 0, result.text
            n01.peripheral.open_pairing_window()
            line = f"pair n01 --door door1 --position outer --passkey {PASSKEY} --scan-seconds 1"
            result = await doorcount(radio, config, line)
            assert result.rc == 0, result.text
            assert "no longer holds" not in result.err


async def test_wrong_passkey_names_the_node_and_keeps_bumble_noise_off_the_terminal(
    radio: RadioLink, config: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    async with nodes_on(radio, ["n01"], tmp_path) as (n01,):
        n01.peripheral.open_pairing_window()
        line = "pair n01 --door door1 --position outer --passkey 654321 --scan-seconds 1"
        result = await doorcount(radio, config, line)
    assert result.rc == 1
    assert result.err.splitlines() == [
        "error: pairing n01 failed: wrong passkey (the node and this gateway disagree)",
        "next:  check the 6 digits on the label inside n01's lid, then doorcount pair n01 "
        "--door door1 --position outer",
    ]
    captured = capfd.readouterr()
    assert "CONFIRM_VALUE_FAILED" not in captured.err + captured.out


async def test_a_taken_door_says_which_node_to_unpair(
    radio: RadioLink, config: Path, tmp_path: Path
) -> None:
    async with nodes_on(radio, ["n01", "n02"], tmp_path) as (n01, _):
        await pair(radio, config, n01, "--door door1 --position both")
        line = f"pair n02 --door door1 --position inner --passkey {PASSKEY}"
        result = await doorcount(radio, config, line)
    assert result.rc == 1
    assert result.err.splitlines() == [
        "error: the inner beam of door door1 is already node n01",
        "next:  if n01 is the wrong node there, unpair it first: doorcount unpair n01",
    ]


async def test_an_adapter_that_cannot_be_opened_is_not_blamed_on_a_node(tmp_path: Path) -> None:
    config = write_config(tmp_path, ["door1"])
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    spec = f"bumble:tcp-client:127.0.0.1:{port}"
    result = await run_with_backend(config, "scan --seconds 1", spec)
    assert result.rc == 1
    assert "cannot open the gateway's Bluetooth adapter" in result.err
    assert f"next:  start what serves tcp-client:127.0.0.1:{port}" in result.err
    assert "node" not in result.err.split("next:")[1].split("sensor-sim")[0]


async def test_doors_and_identify_on_a_stale_bond_give_the_exact_fix(
    radio: RadioLink, config: Path, tmp_path: Path
) -> None:
    (tmp_path / "before").mkdir()
    (tmp_path / "after").mkdir()
    async with nodes_on(radio, ["n01"], tmp_path / "before") as nodes:
        await pair(radio, config, nodes[0], "--door door1 --position both")
        async with reset(radio, nodes, tmp_path, "after"):
            fix = (
                "next:  doorcount unpair n01, press the button on n01, then "
                "doorcount pair n01 --door door1 --position both"
            )
            result = await doorcount(radio, config, "doors --seconds 2")
            assert result.rc == 1
            assert "node n01: no longer holds this gateway's bond" in result.err
            assert fix in result.err
            assert "powered" not in result.err
            result = await doorcount(radio, config, "identify n01 --scan-seconds 1")
            assert result.rc == 1
            assert result.err.splitlines() == [
                "error: node n01 no longer holds this gateway's bond",
                fix,
            ]


async def test_identify_an_unpaired_node_says_pair_it_with_its_name(
    radio: RadioLink, config: Path, tmp_path: Path
) -> None:
    async with nodes_on(radio, ["n01"], tmp_path) as (n01,):
        result = await doorcount(radio, config, f"identify {n01.address} --scan-seconds 1")
    assert result.rc == 1
    assert result.err.splitlines() == [
        f"error: node {n01.address} refuses this gateway: there is no bond",
        f"next:  pair it first: press the button on {n01.address}, then doorcount pair "
        f"{n01.address} --door <the door it is mounted on> --position <outer, inner or both> "
        "(doorcount doors shows each door's free beams)",
    ]


async def test_a_reset_node_pairs_again_at_once_without_unpair_first(
    radio: RadioLink, config: Path, tmp_path: Path
) -> None:
    async with nodes_on(radio, ["n01"], tmp_path) as (n01,):
        await pair(radio, config, n01, "--door door1 --position outer")
        await n01.forget_bonds()  # the button held 10 s: the node's bonds are gone
        n01.peripheral.open_pairing_window()
        line = f"pair n01 --door door1 --position outer --passkey {PASSKEY} --scan-seconds 1"
        result = await doorcount(radio, config, line)
        assert result.rc == 0, result.text
        assert result.out.splitlines()[:3] == [
            f"paired n01 ({n01.address})",
            "  door door1 outer (beam 0)",
            "n01 no longer held this gateway's bond (it was reset): bond replaced",
        ]
        assert result.err == ""
        # The new bond works: the node answers its status over it.
        result = await doorcount(radio, config, "identify n01 --seconds 1 --scan-seconds 1")
    assert result.rc == 0, result.text
    assert [(p.node, p.position) for p in registry(config)] == [("n01", "outer")]


async def test_a_reset_node_whose_advert_does_not_tell_is_paired_again_too(
    radio: RadioLink, config: Path, tmp_path: Path
) -> None:
    """Reset, then bonded to another gateway: it advertises "bonded", yet refuses our key."""
    async with nodes_on(radio, ["n01"], tmp_path) as (n01,):
        await pair(radio, config, n01, "--door door1 --position outer")
        await n01.forget_bonds()
        (tmp_path / "other").mkdir()
        other = write_config(tmp_path / "other", ["door9"])
        await pair(radio, other, n01, "--door door9 --position outer")
        n01.peripheral.open_pairing_window()
        line = f"pair n01 --door door1 --position outer --passkey {PASSKEY} --scan-seconds 1"
        result = await doorcount(radio, config, line)
    assert result.rc == 0, result.text
    assert "n01 no longer held this gateway's bond (it was reset): bond replaced" in result.out


@pytest.mark.parametrize("how", ["link_lost", "power_off"])
async def test_a_link_dropped_during_pairing_is_named_with_its_next_step(
    radio: RadioLink, config: Path, tmp_path: Path, how: str
) -> None:
    """The node drops the link (supervision timeout) or powers off once pairing has begun."""
    async with nodes_on(radio, ["n01"], tmp_path) as (n01,):
        n01.peripheral.open_pairing_window()
        tasks: set[asyncio.Task[None]] = set()

        def on_pairing_start() -> None:
            drop = n01.drop_link() if how == "link_lost" else n01.close()
            tasks.add(asyncio.get_running_loop().create_task(drop))

        def on_connection(connection: Connection) -> None:
            connection.on(Connection.EVENT_PAIRING_START, on_pairing_start)

        n01.peripheral.device.on(Device.EVENT_CONNECTION, on_connection)
        line = f"pair n01 --door door1 --position outer --passkey {PASSKEY} --scan-seconds 1"
        result = await doorcount_process(radio, config, line)
        await asyncio.gather(*tasks)
    assert result.rc == 1
    assert result.err.splitlines() == [
        "error: pairing n01 failed: the link dropped during pairing (it powered off, was reset "
        "or went out of range)",
        "next:  check n01 is powered (LED blip every 5 s) and within a few metres, press its "
        "button, then doorcount pair n01 --door door1 --position outer",
    ]
    assert result.out == ""
    assert registry(config) == []


async def test_a_pairing_window_that_closes_as_pairing_starts_says_press_the_button(
    radio: RadioLink, config: Path, tmp_path: Path
) -> None:
    async with nodes_on(radio, ["n01"], tmp_path) as (n01,):
        n01.peripheral.open_pairing_window()

        def on_connection(_connection: Connection) -> None:
            n01.peripheral.open_pairing_window(0)  # its 2 minutes ran out just now

        n01.peripheral.device.on(Device.EVENT_CONNECTION, on_connection)
        line = f"pair n01 --door door1 --position both --passkey {PASSKEY} --scan-seconds 1"
        result = await doorcount(radio, config, line)
    assert result.rc == 1
    assert result.err.splitlines() == [
        "error: pairing n01 failed: its pairing window closed",
        "next:  press the button on n01 (its LED blinks slowly), then within 2 minutes: "
        "doorcount pair n01 --door door1 --position both",
    ]


async def test_scan_tells_each_stale_bond_with_its_fix_and_lists_every_node(
    radio: RadioLink, config: Path, tmp_path: Path
) -> None:
    async with nodes_on(radio, ["n01", "n02"], tmp_path) as (n01, n02):
        await pair(radio, config, n01, "--door door1 --position outer")
        await pair(radio, config, n02, "--door door2 --position both")
        await n01.forget_bonds()
        result = await doorcount(radio, config, "scan --seconds 1")
        assert result.rc == 0, result.text
        assert result.err.splitlines() == [
            "warning: node n01 no longer holds this gateway's bond",
            "next:  doorcount unpair n01, press the button on n01, then doorcount pair n01 "
            "--door door1 --position outer",
        ]
        # The registry lost as well (a state directory restored without it): the node is
        # still listed, in pairing mode, and its fix names it by its address.
        (config.parent / "state" / "pairings.json").unlink()
        await n02.forget_bonds()
        n02.peripheral.open_pairing_window()
        result = await doorcount(radio, config, "scan --seconds 1")
    assert result.rc == 0, result.text
    assert f"  ?            {n02.address}  PAIRING  bonded, no door: pair it again" in result.out
    assert (
        f"next:  doorcount unpair {n02.address}, press the button on {n02.address}, then "
        f"doorcount pair {n02.address} --door <the door it is mounted on> --position <outer, "
        "inner or both> (doorcount doors shows each door's free beams)"
    ) in result.err.splitlines()


async def test_walktest_live_and_audit_on_a_stale_bond_give_its_fix_and_no_log_noise(
    radio: RadioLink, config: Path, tmp_path: Path
) -> None:
    async with nodes_on(radio, ["n01", "n02"], tmp_path) as (n01, n02):
        await pair(radio, config, n01, "--door door1 --position outer")
        await pair(radio, config, n02, "--door door1 --position inner")
        await n01.forget_bonds()
        for line in (
            "walktest --door door1 --connect-timeout 3",
            "live --door door1 --seconds 1 --connect-timeout 3",
            "audit --door door1 --connect-timeout 3",
        ):
            result = await doorcount_process(radio, config, line, stdin="q\n")
            assert result.rc == 1, result.text
            assert result.err.splitlines() == [
                "error: not connected to n01 (it no longer holds this gateway's bond: reset, "
                "or paired elsewhere)",
                "next:  doorcount unpair n01, press the button on n01, then doorcount pair n01 "
                "--door door1 --position outer",
            ], line
        # With -v the BLE source's own log lines are there, for whoever debugs it.
        result = await doorcount_process(
            radio, config, "-v walktest --door door1 --connect-timeout 3"
        )
    assert "WARNING gateway.sources.ble.ingest: n01" in result.err


OUR_LINES = ("error: ", "next:  ", "warning: ")


async def test_no_library_log_line_reaches_the_installers_terminal_without_v(
    radio: RadioLink, config: Path, tmp_path: Path
) -> None:
    """Each installer command as its own process, its logging set up as in real use, on the
    failures that make bumble, bleak or the BLE source log: only our lines reach stderr."""
    async with nodes_on(radio, ["n01", "n02"], tmp_path) as (n01, n02):
        await pair(radio, config, n01, "--door door1 --position outer")
        await n01.forget_bonds()
        n02.peripheral.open_pairing_window()
        wrong = "pair n02 --door door1 --position inner --passkey 654321 --scan-seconds 1"
        lines = [
            "scan --seconds 1",
            wrong,
            "doors --seconds 1",
            "identify n01 --scan-seconds 1",
            "commission report --seconds 1",
            "unpair n01",
        ]
        for line in lines:
            result = await doorcount_process(radio, config, line)
            stray = [s for s in result.err.splitlines() if not s.startswith(OUR_LINES)]
            assert stray == [], line
            assert " WARNING " not in result.out, line
            assert "Traceback" not in result.text, line
        # With -v the stack's own account is there (bumble's, of the wrong passkey).
        await pair(radio, config, n01, "--door door1 --position outer")
        result = await doorcount_process(radio, config, f"-v {wrong}")
    assert "bumble" in result.err
    assert "CONFIRM_VALUE_FAILED" in result.err


async def test_a_node_that_goes_silent_during_pairing_says_power_cycle_it(
    radio: RadioLink, config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node takes the connection, then its firmware hangs as pairing begins: the link
    stays up and nothing answers until `ble.connect_timeout_s` (an operator's override here)
    runs out. Following the next step (power-cycle, button, the same command) pairs it."""
    monkeypatch.setenv("DOORCOUNT_BLE__CONNECT_TIMEOUT_S", "2")
    async with nodes_on(radio, ["n01"], tmp_path) as (n01,):
        n01.peripheral.open_pairing_window()
        n01.hang("pairing")  # as `sensor-sim ctl ... hang n01 pairing` does
        line = f"pair n01 --door door1 --position outer --passkey {PASSKEY} --scan-seconds 1"
        result = await doorcount_process(radio, config, line)
        assert result.rc == 1, result.text
        assert result.err.splitlines() == [
            "error: pairing n01 failed: n01 took the connection, then answered nothing for 2 s "
            "(its firmware hung, or it went out of range)",
            "next:  power-cycle n01 (unplug it or take its battery out for 10 s), stand within a "
            "few metres of it, press its button, then doorcount pair n01 --door door1 "
            "--position outer",
        ]
        assert result.out == ""
        assert registry(config) == []
        assert n01.peripheral.hung
        # The next step, followed: power-cycle, press the button, the same command.
        await n01.reboot()
        n01.peripheral.open_pairing_window()
        result = await doorcount_process(radio, config, line)
    assert result.rc == 0, result.text
    assert result.err == ""
    assert [(p.node, p.position) for p in registry(config)] == [("n01", "outer")]
