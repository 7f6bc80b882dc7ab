"""`doorcount live` against simulated nodes: beams as they change, links, crossings."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import pytest

from sensor_sim.ble.link import RadioLink
from tests.support.ble import PASSKEY, nodes_on
from tests.support.installer import doorcount, until, walk, write_config

pytestmark = pytest.mark.timeout(60)


async def test_live_shows_beams_links_and_each_crossing(tmp_path: Path) -> None:
    radio = RadioLink(interval=0.0)
    config = write_config(tmp_path, ["front"])
    async with nodes_on(radio, ["n01", "n02"], tmp_path) as (n01, n02):
        for node, position in ((n01, "outer"), (n02, "inner")):
            node.peripheral.open_pairing_window()
            line = f"pair {node.node_id} --door front --position {position} --passkey {PASSKEY}"
            assert (await doorcount(radio, config, line + " --scan-seconds 0.5")).rc == 0
            node.peripheral.open_pairing_window(0)
        radio.interval = 0.015
        out = io.StringIO()
        command = asyncio.ensure_future(
            doorcount(radio, config, "live --seconds 6 --every 2", out=out)
        )
        await until(lambda: "watching front" in out.getvalue() or command.done())
        await walk((n01, 0), (n02, 0), "in")
        await until(lambda: "crossing IN" in out.getvalue() or command.done())
        n02.emit(0, True)  # a hand in the inner beam, then out again
        await asyncio.sleep(0.5)
        n02.emit(0, False)
        result = await command
    assert result.rc == 0, result.text
    lines = result.out.splitlines()
    edges = [line.split("  ", 1)[1] for line in lines if re.search(r"/0 (BROKEN|clear)$", line)]
    assert edges[:4] == [
        "front  outer n01/0 BROKEN",
        "front  inner n02/0 BROKEN",
        "front  outer n01/0 clear",
        "front  inner n02/0 clear",
    ]
    assert edges[4:] == ["front  inner n02/0 BROKEN", "front  inner n02/0 clear"]
    assert any(re.search(r"front  crossing IN  conf \d\.\d\d  \(in 1, out 0\)$", x) for x in lines)
    assert "front: outer n01/0 clear, inner n02/0 clear; in 1, out 0" in lines
    nodes = [line for line in lines if line.startswith(("n01 ", "n02 "))]
    assert nodes
    assert all(
        re.fullmatch(r"n0[12] +connected  -\d+ dBm  battery 100%  signal good", x) for x in nodes
    ), nodes
