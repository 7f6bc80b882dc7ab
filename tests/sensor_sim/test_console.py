"""The installer's simulator console: press a button, walk a person, glitch a beam, see LEDs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.protocol.trace import BeamRef, DoorSpec
from sensor_sim.ble.console import Console, send, serve_socket
from sensor_sim.ble.link import RadioLink
from sensor_sim.cli import main
from tests.support.ble import nodes_on

pytestmark = pytest.mark.timeout(30)
DOOR = DoorSpec("door1", BeamRef("n01", 0), BeamRef("n02", 0))


async def test_commands_drive_the_nodes_and_show_their_leds(tmp_path: Path) -> None:
    radio = RadioLink(interval=0.0)
    async with nodes_on(radio, ["n01", "n02"], tmp_path) as (n01, n02):
        console = Console({"n01": n01, "n02": n02}, [DOOR])
        assert await console.run("press n01") == ("n01: button pressed, pairing window open 120 s")
        assert n01.peripheral.pairing_open
        leds = (await console.run("led")).splitlines()
        assert leds == [
            f"n01        {n01.address}  LED slow blink (pairing window open)",
            f"n02        {n02.address}  LED blip every 5 s (advertising, no gateway)",
        ]
        assert await console.run("walk in") == "door1: one person walked IN"
        # The outer beam (n01) broke first, then the inner one; both cleared again.
        assert [(t.broken) for t in n01.created] == [True, False]
        assert [(t.broken) for t in n02.created] == [True, False]
        assert n01.created[0].made_at < n02.created[0].made_at
        await console.run("walk out door1")
        assert n02.created[2].made_at < n01.created[2].made_at
        assert await console.run("glitch n02 0 3") == "n02: beam 0 broken for 3 ms"
        assert len(n02.created) == 6
        assert await console.run("block n01 0") == "n01: beam 0 broken"
        assert n01.broken_beams == (0,)
        assert "LED slow blink" in await console.run("led n01")  # pairing wins over beam
        n01.peripheral.open_pairing_window(0)
        assert (
            await console.run("led n01") == f"n01        {n01.address}  LED on (a beam is broken)"
        )
        await console.run("clear n01 0")
        assert n01.broken_beams == ()
        assert await console.run("reset n02") == "n02: every bond forgotten, restarted"


async def test_a_hung_node_answers_nothing_until_restarted(tmp_path: Path) -> None:
    radio = RadioLink(interval=0.0)
    async with nodes_on(radio, ["n01"], tmp_path) as (n01,):
        console = Console({"n01": n01}, [DOOR])
        assert await console.run("hang n01 pairing") == (
            "n01: its firmware will hang as the next pairing begins"
        )
        assert not n01.peripheral.hung  # not before a pairing begins
        assert await console.run("hang n01") == (
            "n01: firmware hung, answers nothing until restarted"
        )
        assert n01.peripheral.hung
        assert (
            await console.run("led n01") == f"n01        {n01.address}  LED frozen (firmware hung)"
        )
        assert await console.run("restart n01") == "n01: power-cycled, booted again"
        assert not n01.peripheral.hung
        assert "LED blip every 5 s" in await console.run("led n01")
        assert await console.run("hang n01 later") == "error: cannot do 'hang n01 later'; try: help"


async def test_bad_commands_say_what_is_wrong(tmp_path: Path) -> None:
    radio = RadioLink(interval=0.0)
    async with nodes_on(radio, ["n01", "n02"], tmp_path) as (n01, n02):
        console = Console({"n01": n01, "n02": n02}, [DOOR])
        assert await console.run("press n09") == "error: no node 'n09' here (nodes: n01, n02)"
        assert await console.run("walk in door7") == ("error: no door 'door7' here (doors: door1)")
        assert await console.run("glitch n01 3") == "error: node n01 has no beam 3"
        assert await console.run("press n01 soon") == "error: SECONDS must be a number, got 'soon'"
        assert await console.run("dance") == "error: cannot do 'dance'; try: help"
        assert "press NODE [SECONDS]" in await console.run("help")


async def test_the_control_socket_answers_one_command_per_connection(tmp_path: Path) -> None:
    radio = RadioLink(interval=0.0)
    async with nodes_on(radio, ["n01", "n02"], tmp_path) as (n01, n02):
        path = tmp_path / "sim.sock"
        server = await serve_socket(Console({"n01": n01, "n02": n02}, [DOOR]), path)
        try:
            assert await send(path, "press n02 30") == (
                "n02: button pressed, pairing window open 30 s"
            )
            code = await asyncio.to_thread(main, ["ctl", "--control", str(path), "led", "n02"])
            assert code == 0
            code = await asyncio.to_thread(main, ["ctl", "--control", str(path), "press", "x"])
            assert code == 1
        finally:
            server.close()
            await server.wait_closed()


def test_serve_help_shows_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "label passkey of every node (default: 123456)" in text
    assert "(default: 120.0)" in text
    assert "before replaying (default: 30.0)" in text
    assert "--interactive" in text
    assert "--control SOCKET" in text
