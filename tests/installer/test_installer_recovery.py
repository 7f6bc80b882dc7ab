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

from sensor_sim.ble.link import RadioLink
from sensor_sim.ble.node import SimNode
from tests.support.ble import PASSKEY, nodes_on
from tests.support.installer import Result, _process_io, doorcount, registry, write_config

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


async def pair(radio: RadioLink, config: Path, node: SimNode, where: str) -> None:
    node.peripheral.open_pairing_window()
    line = f"pair {node.node_id} {where} --passkey {PASSKEY} --scan-seconds 1"
    result = await doorcount(radio, config, line)
    node.peripheral.open_pairing_window(0)
    assert result.rc == 0, result.text


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
        "next:  check the 6 digits on the label inside the node's lid and pair again",
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
    assert "refuses this gateway: there is no bond" in result.err
    assert (
        f"next:  pair it first: press the button on {n01.address}, then doorcount pair "
        f"{n01.address} --door NAME --position outer|inner" in result.err
    )
