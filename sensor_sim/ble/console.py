"""Play the door for an installer: one-line commands to the simulated nodes of `sensor-sim serve`.

Typed at `sensor-sim serve --interactive`, or sent to its control socket (`--control PATH`)
with `sensor-sim ctl --control PATH COMMAND ...`. Each command returns its answer as text:

    press NODE [SECONDS]      press the node's button: its pairing window opens (default 120 s)
    walk in|out [DOOR]        one person walks through the door now (default: the first door)
    glitch NODE [BEAM] [MS]   a short false break of one beam (default beam 0, 5 ms)
    block NODE BEAM           break a beam and keep it broken (a hand in it, a wedge)
    clear NODE BEAM           the beam is clear again
    reset NODE                hold the button 10 s: the node forgets every bond and restarts
    hang NODE [pairing]       its firmware hangs now (or as the next pairing begins): the
                              link stays up, the node answers nothing until restarted
    restart NODE              power-cycle the node: its link drops, it boots (bonds kept)
    led [NODE]                what each node's LED shows, and its link
    help                      this list
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from gateway.protocol.trace import DoorSpec
from sensor_sim.ble.node import SimNode

WALK_SPEED = 1.3
"""m/s: a person walking through steadily (installation.md's design figures)."""
BODY_DEPTH = 0.30
"""m: a torso at beam height."""
BEAM_SPACING = 0.12
"""m: outer to inner beam."""
HELP = __doc__.split("\n\n", 1)[1].split("\n", 1)[1].rstrip() if __doc__ else ""


class ConsoleError(ValueError):
    """A command the console cannot carry out; its message says why."""


async def walk_through(
    outer: tuple[SimNode, int],
    inner: tuple[SimNode, int],
    direction: str,
    *,
    speed: float = WALK_SPEED,
    depth: float = BODY_DEPTH,
    spacing: float = BEAM_SPACING,
) -> None:
    """One person walking through steadily: the near beam breaks first, then the far one.

    A 30 cm torso at 1.3 m/s across beams 12 cm apart: each beam is broken for 0.23 s, the far
    one 92 ms after the near one. Edges are emitted live on the nodes, stamped with the walk's
    planned node times: each node's clock waits at its next edge (`hold_clock`), so a busy
    event loop that emits an edge late delays the walk but never changes its shape (a stall
    of 0.2 s must not turn the far beam's break into a 0 ms glitch).
    """
    near, far = (outer, inner) if direction == "in" else (inner, outer)
    lag, length = spacing / speed, depth / speed
    edges = sorted(
        [(0.0, near, True), (length, near, False), (lag, far, True), (lag + length, far, False)],
        key=lambda e: e[0],
    )
    nodes = {id(node): node for _, (node, _), _ in edges}
    base = {key: node.now_us() for key, node in nodes.items()}

    def planned(at: float, node: SimNode) -> int:
        return base[id(node)] + int(at * node.rate)

    def hold_next(node: SimNode, after: int) -> None:
        later = [planned(at, n) for at, (n, _), _ in edges[after:] if n is node]
        node.hold_clock(later[0] if later else None)

    for node in nodes.values():
        hold_next(node, 0)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for i, (at, (node, beam), broken) in enumerate(edges):
        await asyncio.sleep(max(0.0, t0 + at - loop.time()))
        node.emit(beam, broken, node_us=planned(at, node))
        hold_next(node, i + 1)


class Console:
    """The commands, over the nodes of one served site."""

    def __init__(self, nodes: dict[str, SimNode], doors: Sequence[DoorSpec]) -> None:
        self.nodes = nodes
        self.doors = list(doors)

    def _node(self, name: str) -> SimNode:
        node = self.nodes.get(name)
        if node is None:
            raise ConsoleError(f"no node {name!r} here (nodes: {', '.join(sorted(self.nodes))})")
        return node

    def _door(self, name: str | None) -> DoorSpec:
        if not self.doors:
            raise ConsoleError("the trace names no doors")
        if name is None:
            return self.doors[0]
        for door in self.doors:
            if door.door == name:
                return door
        names = ", ".join(d.door for d in self.doors)
        raise ConsoleError(f"no door {name!r} here (doors: {names})")

    @staticmethod
    def _number(text: str, what: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ConsoleError(f"{what} must be a number, got {text!r}") from None
        if value < 0:
            raise ConsoleError(f"{what} must be >= 0, got {text!r}")
        return value

    def _beam(self, node: SimNode, text: str) -> int:
        beam = int(self._number(text, "BEAM"))
        if not node.beams >> beam & 1:
            raise ConsoleError(f"node {node.node_id} has no beam {beam}")
        return beam

    async def watch_leds(self, say: Callable[[str], object], every: float = 0.2) -> None:
        """Print each node's LED when it changes (an IDENTIFY shows as a fast blink)."""
        shown: dict[str, str] = {}
        while True:
            for name in sorted(self.nodes):
                led = self.nodes[name].led()
                if shown.get(name) != led:
                    shown[name] = led
                    say(f"{name}: LED {led}")
            await asyncio.sleep(every)

    async def run(self, line: str) -> str:
        """Carry out one command line; its answer (an error starts with "error:")."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            return f"error: {exc}"
        if not words:
            return ""
        try:
            return await self._run(words[0].lower(), words[1:])
        except ConsoleError as exc:
            return f"error: {exc}"

    async def _run(self, verb: str, args: list[str]) -> str:  # noqa: PLR0911 - one reply per console verb
        if verb == "help":
            return HELP
        if verb == "press" and 1 <= len(args) <= 2:
            node = self._node(args[0])
            seconds = self._number(args[1], "SECONDS") if len(args) > 1 else 120.0
            node.peripheral.open_pairing_window(seconds)
            return f"{node.node_id}: button pressed, pairing window open {seconds:g} s"
        if verb == "walk" and 1 <= len(args) <= 2 and args[0] in ("in", "out"):
            door = self._door(args[1] if len(args) > 1 else None)
            outer = (self._node(door.outer.node), door.outer.beam)
            inner = (self._node(door.inner.node), door.inner.beam)
            await walk_through(outer, inner, args[0])
            return f"{door.door}: one person walked {args[0].upper()}"
        if verb == "glitch" and 1 <= len(args) <= 3:
            node = self._node(args[0])
            beam = self._beam(node, args[1]) if len(args) > 1 else 0
            ms = self._number(args[2], "MS") if len(args) > 2 else 5.0
            node.emit(beam, True)
            await asyncio.sleep(ms / 1000)
            node.emit(beam, False)
            return f"{node.node_id}: beam {beam} broken for {ms:g} ms"
        if verb in ("block", "clear") and len(args) == 2:
            node = self._node(args[0])
            beam = self._beam(node, args[1])
            if (beam in node.broken_beams) != (verb == "block"):
                node.emit(beam, verb == "block")
            return f"{node.node_id}: beam {beam} {'broken' if verb == 'block' else 'clear'}"
        if verb == "reset" and len(args) == 1:
            node = self._node(args[0])
            await node.forget_bonds()
            return f"{node.node_id}: every bond forgotten, restarted"
        if verb == "hang" and args and args[1:] in ([], ["pairing"]):
            node = self._node(args[0])
            if args[1:]:
                node.hang("pairing")
                return f"{node.node_id}: its firmware will hang as the next pairing begins"
            node.hang()
            return f"{node.node_id}: firmware hung, answers nothing until restarted"
        if verb == "restart" and len(args) == 1:
            node = self._node(args[0])
            await node.reboot()
            return f"{node.node_id}: power-cycled, booted again"
        if verb == "led" and len(args) <= 1:
            names = [self._node(args[0]).node_id] if args else sorted(self.nodes)
            return "\n".join(
                f"{n:<10} {self.nodes[n].address}  LED {self.nodes[n].led()}" for n in names
            )
        raise ConsoleError(f"cannot do {' '.join([verb, *args])!r}; try: help")


async def serve_stdin(console: Console, prompt: str = "sim> ") -> None:
    """Read commands from stdin until it ends (Ctrl-D), answering on stdout."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        print(prompt, end="", flush=True)
        raw = await reader.readline()
        if not raw:
            print(flush=True)
            return
        answer = await console.run(raw.decode("utf-8", errors="replace"))
        if answer:
            print(answer, flush=True)


async def serve_socket(console: Console, path: Path) -> asyncio.Server:
    """The control socket: one command line per connection, answered, then closed."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = (await reader.readline()).decode("utf-8", errors="replace").strip()
            answer = await console.run(line)
            writer.write((answer + "\n").encode())
            await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return await asyncio.start_unix_server(handle, path=str(path))


async def send(path: Path, line: str) -> str:
    """Send one command to a control socket; its answer."""
    try:
        reader, writer = await asyncio.open_unix_connection(str(path))
    except OSError as exc:
        raise ConsoleError(f"no simulator listening on {path}: {exc.strerror or exc}") from None
    try:
        writer.write((line + "\n").encode())
        await writer.drain()
        return (await reader.read()).decode("utf-8", errors="replace").rstrip("\n")
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
