"""Serial ingest over real ptys: the simulated wired node is the firmware core (`TwinNode`),
the gateway side is `gateway.sources.serial` reading the pty slave through pyserial."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.config import GatewayConfig
from gateway.core.engine import Engine
from gateway.core.events import Crossing
from gateway.errors import ConfigError
from gateway.evaluation.replay import replay
from gateway.protocol.trace import Tick, open_trace, write_trace
from gateway.protocol.wire import ConfigKey, Identify, SetConfig, TimePing
from gateway.sources.serial import (
    SerialPort,
    SerialSource,
    SerialSourceError,
    SerialSpec,
    serial_from_config,
)
from sensor_sim.commands.serve_serial import Boot, Edge, WiredNode, boots_from_trace
from tests.support.mqtt import Collector, Mosquitto, Received, start_gateway, write_trace_file
from tests.support.serial import SPEED, WAIT, Bench, key, running, served, trace_ticks

ROOT = Path(__file__).resolve().parents[2]


def assert_exactly_once(ticks: list[Tick], want: set[tuple[str, int, int]]) -> None:
    got = [key(t) for t in ticks]
    assert len(got) == len(set(got)), "a tick reached the service twice"
    assert set(got) == want, (
        f"missing {sorted(want - set(got))[:5]}, extra {sorted(set(got) - want)[:5]}"
    )


# -- specs and configuration --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("serial:/dev/ttyUSB0", SerialSpec("/dev/ttyUSB0", 115_200)),
        ("serial:/dev/ttyACM1,1000000", SerialSpec("/dev/ttyACM1", 1_000_000)),
        (
            "serial:/dev/serial/by-id/usb-door_n01-if00,9600",
            SerialSpec("/dev/serial/by-id/usb-door_n01-if00", 9600),
        ),
    ],
)
def test_spec_parses_the_bumble_style_string(text: str, want: SerialSpec) -> None:
    spec = SerialSpec.parse(text)
    assert spec == want
    assert SerialSpec.parse(str(spec)) == spec


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("/dev/ttyUSB0", "must look like"),
        ("usb:0", "must look like"),
        ("serial:", "device must be a path"),
        ("serial:/dev/ttyUSB0,fast", "'fast' is not a number"),
        ("serial:/dev/ttyUSB0,0", "positive integer"),
        ("serial:/dev/ttyUSB0,9600,8N1", "is not a number"),
    ],
)
def test_bad_spec_names_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(SerialSourceError, match=says) as info:
        SerialSpec.parse(text)
    assert isinstance(info.value, ValueError)


def test_source_refuses_a_port_or_node_listed_twice() -> None:
    a = SerialPort(SerialSpec("/dev/ttyUSB0"), "n01")
    with pytest.raises(SerialSourceError, match="listed twice"):
        SerialSource([a, SerialPort(SerialSpec("/dev/ttyUSB0"), "n02")])
    with pytest.raises(SerialSourceError, match="two ports"):
        SerialSource([a, SerialPort(SerialSpec("/dev/ttyUSB1"), "n01")])
    with pytest.raises(SerialSourceError, match="at least one port"):
        SerialSource([])


def test_run_config_builds_doors_and_ports_from_nodes_with_serial(tmp_path: Path) -> None:
    config = {
        "site": "Shop",
        "state_dir": str(tmp_path),
        "source": {"kind": "serial", "backoff_max_s": 5},
        "nodes": [{"id": "n01", "serial": "serial:/dev/ttyUSB0,230400"}, {"id": "n02"}],
        "doors": [
            {
                "name": "front",
                "outer": {"node": "n01", "beam": 0},
                "inner": {"node": "n01", "beam": 1},
            }
        ],
    }
    site, doors, source = serial_from_config(GatewayConfig.model_validate(config))
    assert site == "Shop"
    assert [d.door for d in doors] == ["front"]
    assert [(h.port, h.node) for h in source.health()] == [("serial:/dev/ttyUSB0,230400", "n01")]
    with pytest.raises(ValidationError, match="speed\n  Extra inputs are not permitted"):
        GatewayConfig.model_validate({**config, "source": {"kind": "serial", "speed": 2}})
    with pytest.raises(ConfigError, match="needs \\[\\[nodes\\]\\] with serial"):
        serial_from_config(GatewayConfig.model_validate({**config, "nodes": [{"id": "n01"}]}))
    with pytest.raises(ConfigError, match="must look like"):
        serial_from_config(
            GatewayConfig.model_validate(
                {**config, "nodes": [{"id": "n01", "serial": "/dev/ttyUSB0"}]}
            )
        )


# -- over a pty ----------------------------------------------------------------------------


async def test_ticks_of_a_trace_arrive_exactly_once_with_their_fields(tmp_path: Path) -> None:
    header, ticks = trace_ticks("two-node-skew", 180)
    async with running(Bench.for_trace(header, ticks, tmp_path)) as bench:
        await bench.all_served()
    assert served(bench.nodes) == {key(t) for t in ticks}
    assert_exactly_once(bench.ticks, {key(t) for t in ticks})
    original = {key(t): t for t in ticks}
    assert all(replace(t, rx=0.0) == replace(original[key(t)], rx=0.0) for t in bench.ticks), (
        "node_us, beam or state changed on the way"
    )
    health = bench.source.health()
    assert [h.node for h in health] == ["n01", "n02"]
    for h in health:
        assert (h.bad_frames, h.gaps, h.reopens, h.duplicates, h.wrong_node) == (0, 0, 0, 0, 0)
        assert h.ticks == sum(1 for t in ticks if t.node == h.node)
        assert h.last_seen is not None
    assert {s.node for s in bench.statuses if s.connected} == {"n01", "n02"}


async def test_garbage_on_the_line_is_counted_and_the_stream_resyncs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    header, ticks = trace_ticks("busy", 180)
    bench = Bench.for_trace(header, ticks, tmp_path)
    node = bench.nodes[0]
    rng = random.Random(7)
    async with running(bench):
        await bench.until(lambda: len(bench.ticks) > 30, "streaming")
        node.inject(b"ets Jun  8 2016 00:22:57\r\nrst:0x1 (POWERON_RESET),boot:0x13\r\n")
        node.inject(b"\x00" + bytes(rng.randrange(1, 256) for _ in range(700)) + b"\x00")
        node.inject(b"\x00\x05\x01\x02\x03\x00\x00\x00")
        node.corrupt(3)  # three real batches damaged on the wire: their ticks must come again
        for _ in range(30):
            node.inject(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60))))
            await asyncio.sleep(0.005)
        await bench.all_served()
        h = bench.source.health()[0]  # live counters, the port still open
    assert_exactly_once(bench.ticks, {key(t) for t in ticks})
    assert h.crc_errors + h.framing_errors >= 3 + 3  # banner, junk, short packet, 3 batches
    assert h.bytes_discarded > 700
    assert h.resends >= 1, "a damaged batch was never asked for again"
    assert any("bad packets" in r.getMessage() for r in caplog.records)
    assert h.gaps == 0
    assert h.last_error is None or "port lost" not in h.last_error


async def test_unplugged_port_is_reopened_and_resumes_without_loss_or_duplicates(
    tmp_path: Path,
) -> None:
    header, ticks = trace_ticks("busy", 300)
    bench = Bench.for_trace(header, ticks, tmp_path, by_link=True)
    node = bench.nodes[0]
    async with running(bench):
        await bench.until(lambda: len(bench.ticks) > 40, "streaming")
        node.unplug()  # batches in flight are lost with the device
        await asyncio.sleep(0.2)  # the node goes on counting into its ring; the gateway retries
        node.plug()
        seen = len(bench.ticks)
        await bench.until(lambda: len(bench.ticks) > seen + 20, "streaming again")
        node.unplug()
        node.plug()
        await bench.all_served()
    assert_exactly_once(bench.ticks, {key(t) for t in ticks})
    h = bench.source.health()[0]
    assert h.reopens >= 2
    assert h.open_failures >= 1  # the device was gone for a while
    assert h.gaps == 0
    assert [s.connected for s in bench.statuses if s.node == "n01"].count(False) >= 2


async def test_a_bare_uart_node_streaming_into_the_void_is_rewound_at_its_first_batch(
    tmp_path: Path,
) -> None:
    _, ticks = trace_ticks("busy", 300)
    (boot,) = boots_from_trace(ticks)["n01"]
    node = WiredNode("n01", [boot], speed=SPEED, link=tmp_path / "n01", dtr=False)
    bench = Bench.for_nodes([node])
    async with running(bench):
        await bench.until(lambda: len(bench.ticks) > 40, "streaming")
        hellos = sum(1 for f in node.writes if f[0] == 0x01)
        node.unplug()  # the node never notices: it goes on sending, to nobody
        await bench.until(lambda: len(node.sent) > len(bench.ticks) + 30, "sent into the void")
        node.plug()
        await bench.all_served()
    assert sum(1 for f in node.writes if f[0] == 0x01) == hellos, "no HELLO after the replug"
    assert_exactly_once(bench.ticks, {key(t) for t in ticks})
    h = bench.source.health()[0]
    assert h.reopens >= 1
    assert h.unresumed >= 1  # the first batch after the reopen, dropped and asked for again
    assert h.gaps == 0


async def test_node_reboot_mid_stream_starts_a_new_boot_and_loses_nothing_sent(
    tmp_path: Path,
) -> None:
    _, ticks = trace_ticks("busy", 240)
    (first,) = boots_from_trace(ticks)["n01"]
    half = len(first.edges) // 2
    shift = first.edges[half].node_us - 2_000_000
    second = tuple(Edge(e.node_us - shift, e.beam, e.broken) for e in first.edges[half:])
    node = WiredNode(
        "n01",
        [Boot(first.boot_id, first.edges[:half]), Boot(0xB007, second)],
        speed=SPEED,
        flush_on_reboot=False,
    )  # power loss: unsent ticks are gone
    async with running(Bench.for_nodes([node])) as bench:
        await bench.all_served()
    want = served([node])
    assert {b for _, b, _ in want} == {first.boot_id, 0xB007}
    assert sum(1 for _, b, _ in want if b == 0xB007) == len(second)
    assert_exactly_once(bench.ticks, want)
    h = bench.source.health()[0]
    assert h.boot == 0xB007
    assert h.reboots == 1
    assert h.gaps == 0  # the lost ticks were never numbered on the wire as sent


async def test_gateway_restart_resumes_from_the_service_checkpoint(tmp_path: Path) -> None:
    header, ticks = trace_ticks("busy", 300)
    bench = Bench.for_trace(header, ticks, tmp_path)
    bench.start_nodes()
    first = asyncio.create_task(bench._consume({}))
    try:
        await bench.until(lambda: len(bench.ticks) > 60, "streaming")
        first.cancel()  # the gateway process stops; its ports close
        await asyncio.gather(first, return_exceptions=True)
        before = list(bench.ticks)
        # The committed snapshot consumed fewer ticks than were received: resend from there.
        point = before[len(before) // 2]
        bench.ticks.clear()
        ports = [SerialPort(SerialSpec(n.slave_path or ""), n.node_id) for n in bench.nodes]
        bench.source = SerialSource(ports, backoff_min=0.02, backoff_max=0.1)
        bench.start_source({"n01": (point.boot, point.seq)})
        rest = {key(t) for t in ticks if t.seq >= point.seq}
        await bench.until(lambda: {key(t) for t in bench.ticks} >= rest, "the rest arrived")
        await bench.until(lambda: all(n.finished.is_set() for n in bench.nodes), "finished")
    finally:
        await bench.stop()
    after = [key(t) for t in bench.ticks]
    assert len(after) == len(set(after))
    assert min(seq for _, _, seq in after) == point.seq
    assert set(after) == {k for k in served(bench.nodes) if k[2] >= point.seq}
    assert {key(t) for t in before} | set(after) == {key(t) for t in ticks}


async def test_control_frames_reach_the_firmware(tmp_path: Path) -> None:
    header, ticks = trace_ticks("clean", 600)
    bench = Bench.for_trace(header, ticks, tmp_path)
    node = bench.nodes[0]
    async with running(bench):
        await bench.until(lambda: bench.source.health()[0].connected, "connected")
        bench.source.send("n01", Identify(255))
        bench.source.send("n01", SetConfig(ConfigKey.STATUS_INTERVAL_S, 30))
        bench.source.send("n01", TimePing(0xCAFEF00D))
        session = bench.source.session("n01")
        assert session is not None
        await bench.until(lambda: node.twin.config.status_interval_s == 30, "config applied")
        await bench.until(
            lambda: (
                session.stats.time_echo is not None and session.stats.time_echo.token == 0xCAFEF00D
            ),
            "TIME_ECHO back",
        )
        assert bytes(Identify(255)) in node.controls
        echo = session.stats.time_echo
        assert echo is not None
        assert echo.boot == node.twin.boot_id
        assert echo.node_us is not None
        with pytest.raises(SerialSourceError, match="none of this source's ports"):
            bench.source.send("n99", Identify(1))


async def test_a_node_on_the_wrong_port_is_reported_never_counted(tmp_path: Path) -> None:
    header, ticks = trace_ticks("clean", 120)
    (node,) = Bench.for_trace(header, ticks, tmp_path).nodes
    path = node.plug()
    source = SerialSource([SerialPort(SerialSpec(path), "n09")], backoff_min=0.02)
    bench = Bench([node], source)
    async with running(bench):
        await bench.until(lambda: source.health()[0].wrong_node >= 2, "wrong node reported")
    assert bench.ticks == []
    h = source.health()[0]
    assert "'n01' says HELLO" in (h.last_error or "")
    assert not h.connected


async def test_crossings_from_the_serial_path_equal_doorcount_eval(tmp_path: Path) -> None:
    """The serial path delivers the trace's ticks; counted with the trace's receive times.

    The nodes play at SPEED x real time, so the gateway's own receive times are compressed
    and say nothing about the doorway; the engine fits node clocks to receive times, so the
    received ticks are given the trace's rx (matched by node, boot and seq) and fed in the
    trace's order. Equal crossings then show the serial path lost, added and altered nothing.
    """
    header, ticks = trace_ticks("two-node-skew", 600, seed=3)
    path = tmp_path / "t.jsonl"
    write_trace(path, header, list(ticks))
    async with running(Bench.for_trace(header, ticks, tmp_path)) as bench:
        await bench.all_served()
    assert_exactly_once(bench.ticks, {key(t) for t in ticks})
    order = {key(t): (i, t.rx) for i, t in enumerate(ticks)}
    engine = Engine(header.doors)
    crossings: list[Crossing] = []
    for tick in sorted(bench.ticks, key=lambda t: order[key(t)][0]):
        events = engine.feed(replace(tick, rx=order[key(tick)][1]))
        crossings += [e for e in events if isinstance(e, Crossing)]
    crossings += [e for e in engine.finish() if isinstance(e, Crossing)]
    crossings.sort(key=lambda c: (c.t, c.door))
    want = replay(path).crossings
    assert len(want) > 20
    assert crossings == want


async def test_serve_serial_cli_prints_ptys_the_gateway_can_read(tmp_path: Path) -> None:
    header, ticks = trace_ticks("two-node-skew", 120)
    path = tmp_path / "t.jsonl"
    write_trace(path, header, list(ticks))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sensor_sim.cli",
        "serve-serial",
        "--trace",
        str(path),
        "--speed",
        str(SPEED),
        "--linger",
        "2",
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    ports = []
    async with asyncio.timeout(WAIT):
        for _ in range(2):
            node, spec = (await proc.stdout.readline()).decode().split()
            ports.append(SerialPort(SerialSpec.parse(spec), node))
    bench = Bench([], SerialSource(ports, backoff_min=0.02))
    bench.start_source()
    try:
        await bench.until(
            lambda: {key(t) for t in bench.ticks} == {key(t) for t in ticks}, "every tick"
        )
        async with asyncio.timeout(WAIT):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await bench.stop()
    assert proc.returncode == 0, err.decode()
    assert f"served {len(ticks)} ticks from 2 nodes" in out.decode()
    assert_exactly_once(bench.ticks, {key(t) for t in ticks})


@pytest.mark.slow
@pytest.mark.servers
def test_doorcount_run_counts_a_wired_node_live_over_mqtt(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """The whole chain at real speed: `sensor-sim serve-serial` -> pty -> `doorcount run`
    ([source] kind = "serial") -> Mosquitto; every crossing eval counts is published once.

    Live receive times differ from the trace's by the link's delays, so crossings are compared
    as counts per door and direction, not by interval."""
    trace = write_trace_file(tmp_path / "t.jsonl", "busy", 40, seed=5)
    with open_trace(trace) as reader:
        header = reader.header
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sensor_sim.cli",
            "serve-serial",
            "--trace",
            str(trace),
            "--speed",
            "1",
            "--linger",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert sim.stdout is not None
    node, spec = sim.stdout.readline().decode().split()
    door = header.doors[0]
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'site = "{header.site}"\nstate_dir = "{tmp_path}"\n'
        f'[[nodes]]\nid = "{node}"\nserial = "{spec}"\n'
        f'[[doors]]\nname = "{door.door}"\n'
        f'outer = {{ node = "{door.outer.node}", beam = {door.outer.beam} }}\n'
        f'inner = {{ node = "{door.inner.node}", beam = {door.inner.beam} }}\n'
        f'[source]\nkind = "serial"\n'
        f'[mqtt]\nhost = "{mosquitto.host}"\nport = {mosquitto.port}\n'
        f'outbox_path = "{tmp_path / "outbox.sqlite3"}"\n'
    )
    collector = Collector(mosquitto, "#")
    gateway = start_gateway(config)
    try:
        _, err = sim.communicate(timeout=120)
        assert sim.returncode == 0, err.decode()
        want = Counter((c.door, c.direction) for c in replay(trace).crossings)
        assert sum(want.values()) >= 5

        def crossings(messages: list[Received]) -> Counter[tuple[str, str]]:
            seen = {}
            for m in messages:
                if m.topic.endswith("/crossing"):
                    p = json.loads(m.payload)
                    seen[p["id"]] = (p["door"], p["direction"])
            return Counter(seen.values())

        snap = collector.wait_for(lambda m: crossings(m) == want, timeout=60)
        assert crossings(snap) == want

        def health(messages: list[Received]) -> list[bool]:
            return [
                json.loads(m.payload)["connected"]
                for m in messages
                if m.topic.endswith(f"/{node}/health")
            ]

        # Connected while it served; the simulator has exited since: the port is gone.
        snap = collector.wait_for(lambda m: health(m)[-1:] == [False], timeout=30)
        assert True in health(snap)
    finally:
        gateway.send_signal(signal.SIGTERM)
        gateway.wait(timeout=30)
        if sim.poll() is None:
            sim.kill()
            sim.wait()
        collector.close()
    assert gateway.returncode == 0, (tmp_path / "gateway.log").read_text()[-3000:]
