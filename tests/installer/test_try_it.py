"""docs/installer.md "Try it without hardware", followed step by step, as separate processes.

The `$ ` lines of that section are run in order in a scratch directory (with a free port in
place of 9000): the simulator in the background, every `doorcount` command as the installer
would type it. Where the doc says to answer from a second terminal (walk when the walk test
says so, walk and block beams during `live`, walk and tap during `audit`), the test does, with
the doc's own `sensor-sim ctl` lines.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "installer.md"
pytestmark = pytest.mark.timeout(400)


def steps() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Try it without hardware", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1]
    return [line[2:] for line in block.splitlines() if line.startswith("$ ")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Shell:
    """Runs doc lines in `cwd` with the venv's commands first on PATH."""

    def __init__(self, cwd: Path, port: int) -> None:
        self.cwd = cwd
        self.port = port
        bindir = str(Path(sys.executable).parent)
        self.env = {**os.environ, "PATH": bindir + os.pathsep + os.environ["PATH"]}
        self.env.pop("DOORCOUNT_BLE__BACKEND", None)

    def line(self, text: str) -> str:
        return text.replace("9000", str(self.port))

    async def start(self, text: str, stdin: bool = False) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            self.line(text),
            cwd=self.cwd,
            env=self.env,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )

    async def run(self, text: str) -> str:
        proc = await self.start(text)
        out, err = await proc.communicate()
        assert proc.returncode == 0, f"{text}: rc {proc.returncode}\n{out.decode()}{err.decode()}"
        return out.decode()


async def read_until(proc: asyncio.subprocess.Process, pattern: str, seen: list[str]) -> str:
    assert proc.stdout is not None
    while True:
        raw = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert raw, f"ended before {pattern!r}: {''.join(seen)}"
        line = raw.decode()
        seen.append(line)
        if re.search(pattern, line):
            return line


async def test_try_it_without_hardware(tmp_path: Path) -> None:  # noqa: C901 - one test walks the whole documented session
    lines = steps()
    shell = Shell(tmp_path, free_port())
    serve: subprocess.Popen[bytes] | None = None
    ctl = "sensor-sim ctl --control sim.sock"
    try:
        queue = list(lines)
        while queue:
            step = queue.pop(0)
            if step.endswith("&"):
                log = (tmp_path / "serve.log").open("wb")
                serve = subprocess.Popen(
                    ["bash", "-c", "exec " + shell.line(step[:-1])],
                    cwd=tmp_path,
                    env=shell.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
                log.close()
                for _ in range(300):
                    if (tmp_path / "sim.sock").exists():
                        break
                    await asyncio.sleep(0.05)
                assert (tmp_path / "sim.sock").exists(), (tmp_path / "serve.log").read_text()
            elif step.startswith("export "):
                name, value = step.removeprefix("export ").split("=", 1)
                shell.env[name] = value.replace("$PWD", str(tmp_path))
            elif step.startswith("doorcount walktest"):
                answers = [s for s in queue if s.startswith(f"{ctl} walk")]
                assert answers == [f"{ctl} walk in", f"{ctl} walk out"]
                queue = [s for s in queue if s not in answers]
                proc = await shell.start(step)
                seen: list[str] = []
                for _ in range(4):
                    prompt = await read_until(proc, r"^walk \d of \d", seen)
                    way = prompt.split()[-2].lower()
                    await shell.run(f"{ctl} walk {way}")
                out, err = await proc.communicate()
                text = "".join(seen) + out.decode()
                assert proc.returncode == 0, text + err.decode()
                assert "PASS: the door counts the right way" in text
            elif step.startswith("doorcount live"):
                extra = [s for s in queue[:3] if s.startswith(ctl)]
                queue = queue[len(extra) :]
                proc = await shell.start(step)
                seen = []
                await read_until(proc, r"^watching door1", seen)
                await shell.run(f"{ctl} walk in")
                await read_until(proc, r"crossing IN", seen)
                leds = ""
                for s in extra:
                    answer = await shell.run(s)
                    if s.endswith(" led"):
                        leds = answer
                    await asyncio.sleep(0.5)
                out, err = await proc.communicate()
                text = "".join(seen) + out.decode()
                assert proc.returncode == 0, text + err.decode()
                assert "door1  outer n01/0 BROKEN" in text
                assert re.search(r"n01 +connected  -\d+ dBm  battery 100%  signal good", text)
                # First match wins: the pairing window (open 2 min from the start) outranks
                # the broken beam.
                assert re.match(r"n01 .*  LED (slow blink|on \(a beam is broken\))", leds), leds
            elif step.startswith("doorcount audit"):
                proc = await shell.start(step, stdin=True)
                assert proc.stdin is not None
                seen = []
                await read_until(proc, r"type i \+ Enter", seen)
                for way in ("in", "in", "out", "in"):
                    await shell.run(f"{ctl} walk {way}")
                    proc.stdin.write(b"i\n" if way == "in" else b"o\n")
                    await proc.stdin.drain()
                    await asyncio.sleep(1.5)
                proc.stdin.write(b"q\ny\n")
                await proc.stdin.drain()
                out, err = await proc.communicate()
                text = "".join(seen) + out.decode()
                assert proc.returncode == 0, text + err.decode()
                assert re.search(r"IN  hand    3  device    3  count ratio 100.0%", text), text
                assert "correction for door door1" in text
            else:
                printed = await shell.run(step)
                if step.startswith("doorcount pair"):
                    assert printed.startswith("paired n0")
                if step.startswith("doorcount doors"):
                    assert "door1: ready" in printed
                if step.startswith("doorcount commission report"):
                    assert "wrote " in printed
    finally:
        if serve is not None:
            serve.send_signal(signal.SIGINT)
            try:
                serve.wait(timeout=20)
            except subprocess.TimeoutExpired:
                serve.kill()
                serve.wait()
    html = (tmp_path / "state" / "commissioning-try-it.html").read_text()
    assert "<h1>Commissioning report: try-it</h1>" in html
    assert html.count("data:image/png;base64,") == 2  # the audit chart and the nodes chart
    assert "PASS: 4 of 4 walks counted" in html
    assert "IN 100.0%" in html
    served = (tmp_path / "serve.log").read_text()
    assert "n01: LED fast blink (identify)" in served  # identify, seen at the node
    assert "Cannot find a connection" not in served
    assert "Traceback" not in served
