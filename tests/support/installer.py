"""Installer CLI test helpers: the real `doorcount` command against simulated nodes.

The command runs in a worker thread with its own event loop, exactly as from a shell, and
reaches the virtual radio the way it would reach a USB dongle: the bumble backend over HCI,
here `bumble:tcp-client:...` to a bumble controller on the test's `RadioLink` (a fresh
controller per command, like plugging the dongle in). Nodes are `sensor_sim.ble` peripherals.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shlex
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TextIO, cast

from bumble.transport.tcp_server import open_tcp_server_transport_with_socket

from gateway.cli import main
from gateway.config import Pairing, load_pairings
from sensor_sim.ble.console import walk_through
from sensor_sim.ble.link import RadioLink, VirtualController
from sensor_sim.ble.node import SimNode
from tests.support.ble import PASSKEY

CONFIG = """
site = "test-site"
state_dir = "{state}"
[ble]
connect_timeout_s = 10.0
{doors}
"""


def write_config(tmp_path: Path, doors: list[str], extra: str = "") -> Path:
    """A gateway config with these (beam-less) doors; beams come from pairing."""
    body = "\n".join(f'[[doors]]\nname = "{d}"' for d in doors)
    path = tmp_path / "doorcount.toml"
    path.write_text(CONFIG.format(state=tmp_path / "state", doors=body) + extra, encoding="utf-8")
    return path


def registry(config: Path) -> list[Pairing]:
    return load_pairings(config.parent / "state" / "pairings.json")


@dataclass(frozen=True, slots=True)
class Result:
    rc: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


class _TcpServerSink(Protocol):
    transport: asyncio.Transport | None


class _TcpServerTransport(Protocol):
    server: asyncio.Server


@contextlib.asynccontextmanager
async def dongle(radio: RadioLink) -> AsyncIterator[str]:
    """A bumble controller on `radio`, served over TCP; yields the backend spec to reach it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    port = sock.getsockname()[1]
    transport = await open_tcp_server_transport_with_socket(sock)
    controller = VirtualController(
        "gateway-dongle", host_source=transport.source, host_sink=transport.sink, link=radio
    )
    try:
        yield f"bumble:tcp-client:127.0.0.1:{port}"
    finally:
        # bumble's TCP server transport closes neither its listener nor the accepted socket;
        # both are attributes of its private classes, typed here for what is used.
        sink = cast("_TcpServerSink", transport.sink)
        if sink.transport is not None:
            sink.transport.close()
        server = cast("_TcpServerTransport", transport).server
        server.close()
        await server.wait_closed()
        await transport.close()
        if controller in radio.controllers:
            radio.remove_controller(controller)


@contextlib.contextmanager
def _process_io(
    stdin: str | TextIO, backend: str, out: io.StringIO
) -> Iterator[tuple[io.StringIO, io.StringIO]]:
    err = io.StringIO()
    saved = sys.stdin, os.environ.get("DOORCOUNT_BLE__BACKEND")
    sys.stdin = io.StringIO(stdin) if isinstance(stdin, str) else stdin
    os.environ["DOORCOUNT_BLE__BACKEND"] = backend
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            yield out, err
    finally:
        sys.stdin = saved[0]
        if saved[1] is None:
            del os.environ["DOORCOUNT_BLE__BACKEND"]
        else:
            os.environ["DOORCOUNT_BLE__BACKEND"] = saved[1]


async def doorcount(
    radio: RadioLink,
    config: Path,
    line: str,
    stdin: str | TextIO = "",
    out: io.StringIO | None = None,
) -> Result:
    """Run `doorcount COMMAND --config CONFIG ARGS...` (`line` is "COMMAND ARGS...", as typed
    in a shell) against the radio; its exit code and output. `stdin` is typed text, or a
    file to type into while the command runs (the read end of a pipe). The backend comes from
    DOORCOUNT_BLE__BACKEND, as an operator would override the file's. Pass `out` to watch
    stdout while the command runs.
    """
    words = shlex.split(line)
    size = 2 if words[0] in ("commission", "badge") else 1  # COMMAND ACTION --config ...
    command, rest = words[:size], words[size:]
    async with dongle(radio) as spec:
        with _process_io(stdin, spec, out or io.StringIO()) as (out, err):
            rc = await asyncio.to_thread(main, [*command, "--config", str(config), *rest])
    return Result(rc, out.getvalue(), err.getvalue())


async def pair(radio: RadioLink, config: Path, node: SimNode, where: str) -> None:
    """Press the node's button and pair it as `where` ("--door D --position P"), as an
    installer would; the pairing must succeed, and the node's pairing window closes again."""
    node.peripheral.open_pairing_window()
    line = f"pair {node.node_id} {where} --passkey {PASSKEY} --scan-seconds 1"
    result = await doorcount(radio, config, line)
    node.peripheral.open_pairing_window(0)
    assert result.rc == 0, result.text


async def walk(
    outer: tuple[SimNode, int],
    inner: tuple[SimNode, int],
    direction: str = "in",
    *,
    speed: float = 1.3,
    depth: float = 0.30,
    spacing: float = 0.12,
) -> None:
    """One person walking through steadily (`sensor_sim.ble.console.walk_through`)."""
    await walk_through(outer, inner, direction, speed=speed, depth=depth, spacing=spacing)


async def until(condition: object, timeout: float = 30.0) -> None:
    """Wait until `condition()` is true (polling); fail the test after `timeout`."""
    assert callable(condition)
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def doorcount_process(radio: RadioLink, config: Path, line: str, stdin: str = "") -> Result:
    """`doorcount` as its own process (the installed script), as typed in a shell: its logging
    is configured as in real use, so library log lines reach its stderr if they leak. The
    dongle is served from this process, so nodes on `radio` stay under the test's control."""
    words = shlex.split(line)
    options: list[str] = []
    while words[0].startswith("-"):  # doorcount's own options (-v) come before COMMAND
        options.append(words.pop(0))
    size = 2 if words[0] in ("commission", "badge") else 1  # COMMAND ACTION --config ...
    command, rest = [*options, *words[:size]], words[size:]
    script = Path(sys.executable).parent / "doorcount"
    async with dongle(radio) as spec:
        env = {**os.environ, "DOORCOUNT_BLE__BACKEND": spec}
        proc = await asyncio.create_subprocess_exec(
            str(script),
            *command,
            "--config",
            str(config),
            *rest,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await proc.communicate(stdin.encode())
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    return Result(proc.returncode or 0, out.decode(), err.decode())
