"""End-to-end soak: a simulated site over the virtual BLE radio through every real component,
while a fault schedule runs; the stored counts must equal what the gateway's engine counted.

    sensor-sim serve (2 nodes per door, firmware core, bumble peripherals, random link
    losses, node reboots) --virtual radio, HCI over TCP--> doorcount run (BLE source,
    --record) -> Mosquitto -> doorcount bridge -> VictoriaMetrics

Faults, spread evenly over the trace in this order (repeated on long runs): gateway SIGKILL
and restart, broker restart, VictoriaMetrics outage (stop, start), bridge SIGKILL and restart.
Node link losses (`--disconnect-every`) and reboots (one node per 10 minutes of trace) come
from the simulator. A node's ring is RAM: ticks the gateway has not received when the node
reboots are gone with it, as on hardware (a reboot that falls while the node waits for the
gateway to reconnect it). Those are the tail of the old boot's sequence, so they are told
apart exactly: every tick of a boot up to the last one received, and every tick of a boot
that did not end in a reboot, must arrive.

The reference is exact: the gateway stamps its own receive times, so the expected counts come
from its recording (`doorcount run --record`, kept consistent with the engine checkpoint
across the SIGKILLs) replayed offline (`replay_recording`, advance lines honoured) and
aggregated into the gateway's intervals. Per door x interval x direction:
lost = expected - stored where positive, doubled = stored - expected where positive.
`doorcount eval` of the same recording (which skips the advance lines) is printed next to it.

Catch-up: every 0.5 s the interval values the gateway has committed (its outbox database)
are compared with what VictoriaMetrics holds; each value (each revision) is timed from the
poll that first saw it committed to the poll that found it stored. The longest such wait is
reported, overall and for the values stored after each kind of fault (before the next one).

Everything runs in real time (speed 1): the out-of-process gateway
stamps ticks with its wall clock, and a node clock running faster than it would look like a
broken crystal to the engine's clock fit.

Run: .venv/bin/python -m benchmarks.soak [--doors 20] [--minutes 2] [--seed 1]
Exit code 1 if a tick that left its node never arrived, or a count was lost or doubled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.mqtt import Mosquitto, free_port, start_gateway  # noqa: E402
from tests.support.tsdb import Victoria, start_bridge  # noqa: E402

PASSKEY = 123456
TOKEN = "soak-token-0123456789"  # noqa: S105 - a throw-away local VictoriaMetrics
KINDS = ("gateway SIGKILL", "broker restart", "tsdb outage", "bridge SIGKILL")
Counts = dict[tuple[str, int], tuple[int, int]]
"""(door, interval start s) -> (entries, exits)."""


@dataclass(frozen=True)
class SoakConfig:
    doors: int = 20
    minutes: float = 2.0
    seed: int = 1
    rate: float = 20.0
    """People per minute per door (the busy preset's mix)."""
    interval_s: int = 60
    grace_s: float = 40.0
    """The gateway's interval grace: longer than a gateway restart takes to reconnect every
    node, so that intervals are rarely corrected after publication (see `stale`)."""
    disconnect_every: float = 4.0
    """Mean seconds between random node link losses, site-wide."""
    start_after: float = 25.0
    """Seconds from the simulator's start to its replay: pairing 40 nodes takes ~10 s, the
    gateway connecting them ~15 s more."""
    outage_s: float = 4.0
    """How long a stopped component stays down."""


@dataclass
class Fault:
    kind: str
    at: float
    """Monotonic time the fault began."""
    ended: float = math.nan


@dataclass(frozen=True)
class Wait:
    """One interval value from the gateway's commit to VictoriaMetrics (monotonic times)."""

    key: tuple[str, int]
    committed: float
    stored: float

    @property
    def seconds(self) -> float:
        return self.stored - self.committed


@dataclass
class SoakResult:
    doors: int
    nodes: int
    trace_ticks: int
    served: int
    received: int
    received_twice: int
    gone_at_reboot: int
    """The unreceived tail of a boot that ended in a reboot: lost on the node, not on the
    way (the node cannot know which ticks it sent reached the gateway)."""
    missing: int
    """Ticks that should have arrived and did not: 0."""
    link_losses: int
    reboots: int
    crossings: int
    eval_totals: tuple[int, int]
    stored_totals: tuple[int, int]
    expected: Counts
    stored: Counts
    lost: int
    doubled: int
    faults: list[Fault]
    waits: list[Wait]
    corrections: int
    stale: int
    """Wrong intervals the gateway had corrected after publishing them: VictoriaMetrics
    1.79 keeps ONE sample per series and timestamp, not necessarily the last written."""
    wall_s: float
    problems: list[str] = field(default_factory=list)

    @property
    def fault_counts(self) -> Counter[str]:
        return Counter(f.kind for f in self.faults)

    @property
    def longest_catch_up(self) -> float:
        """The longest an interval value the gateway committed waited to be stored."""
        return max((w.seconds for w in self.waits), default=math.nan)

    def catch_up_after(self, kind: str) -> float:
        """The longest wait of a value stored after a fault of this kind (and before the
        next fault), measured from its commit."""
        after = []
        for wait in self.waits:
            before = [f for f in self.faults if f.at <= wait.stored]
            if before and before[-1].kind == kind:
                after.append(wait.seconds)
        return max(after, default=math.nan)


# -- the pieces -----------------------------------------------------------------------------


def make_trace(config: SoakConfig, path: Path) -> tuple[Any, int]:
    """A busy site, two single-beam nodes per door, one node reboot per 10 trace minutes."""
    from gateway.protocol.trace import Tick, write_trace
    from sensor_sim.ble.serve import with_reboot
    from sensor_sim.generator import generate
    from sensor_sim.scenarios import busy_site

    scenario = busy_site(f"soak-{config.doors}", config.doors, config.rate)
    header, records = generate(scenario, config.minutes * 60.0, config.seed)
    nodes = sorted({r.node for r in records if isinstance(r, Tick)})
    reboots = max(1, round(config.minutes / 10))
    for k in range(reboots):
        ticks = [r for r in records if isinstance(r, Tick)]
        at = ticks[len(ticks) * (2 * k + 1) // (2 * reboots + 1)].rx
        records = with_reboot(records, nodes[(3 * k + 1) % len(nodes)], at, boot=4000 + k)
    write_trace(path, header, records)
    return header, sum(1 for r in records if isinstance(r, Tick))


def python_m(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def stop(proc: subprocess.Popen[Any] | None, sig: int = signal.SIGTERM, wait: float = 30) -> None:
    if proc is not None and proc.poll() is None:
        os.kill(proc.pid, sig)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_for(
    predicate: Callable[[], bool],
    timeout: float,
    what: str,
    why: Callable[[], str] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what}: not within {timeout:.0f} s" + (f": {why()}" if why else ""))


SUMMARY = re.compile(
    r"served (?P<served>\d+) ticks; (?P<link_losses>\d+) link losses, (?P<reboots>\d+) reboots"
)
"""`sensor-sim serve`'s last line."""


class Simulator:
    """`sensor-sim serve` in its own process; reads its node list and its final summary."""

    def __init__(self, trace: Path, directory: Path, config: SoakConfig, nodes: int) -> None:
        self.hci_port = free_port()
        self.addresses: dict[str, str] = {}
        self.summary: dict[str, int] = {}
        self._log = open(directory / "sensor-sim.log", "ab")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(  # noqa: S603 - our own module, no shell
            python_m(
                "sensor_sim.cli",
                "serve",
                str(trace),
                "--gateway-hci",
                f"tcp-server:127.0.0.1:{self.hci_port}",
                "--keys",
                str(directory / "node-keys"),
                "--passkey",
                str(PASSKEY),
                "--start-after",
                str(config.start_after),
                "--disconnect-every",
                str(config.disconnect_every),
                "--status-interval",
                "2",
                "--seed",
                str(config.seed),
            ),
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=ROOT,
            text=True,
        )
        self.started = time.monotonic()
        self.replay_at = self.started + config.start_after
        assert self.proc.stdout is not None
        self._stdout: IO[str] = self.proc.stdout
        while len(self.addresses) < nodes:
            line = self._stdout.readline()
            if not line:
                raise RuntimeError(f"sensor-sim serve exited: see {directory}/sensor-sim.log")
            node, address, _ = line.split("\t")
            self.addresses[node] = address
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self._stdout:
            found = SUMMARY.match(line)
            if found:
                self.summary = {key: int(value) for key, value in found.groupdict().items()}

    def close(self) -> None:
        stop(self.proc, signal.SIGINT)
        self._reader.join(10)
        self._stdout.close()
        self._log.close()


async def pair_nodes(backend_spec: str, keystore: Path, addresses: dict[str, str]) -> list[Any]:
    """Pair every node with its label passkey, ten at a time (connections are serialised)."""
    from gateway.errors import BleError
    from gateway.sources.ble import pairing
    from gateway.sources.ble.backend import open_backend

    backend = await open_backend(backend_spec, keystore=keystore)
    gate = asyncio.Semaphore(10)

    async def one(address: str) -> Any:
        async with gate:
            for attempt in range(3):  # setup, not under test: a loaded machine may time out
                try:
                    return await pairing.pair(backend, address, PASSKEY)
                except BleError:
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    try:
        return list(await asyncio.gather(*(one(a) for a in addresses.values())))
    finally:
        await backend.close()


def write_gateway_config(
    directory: Path, header: Any, backend_spec: str, broker: Mosquitto, config: SoakConfig
) -> Path:
    doors = "\n".join(f"[[doors]]\nname = {json.dumps(d.door)}" for d in header.doors)
    path = directory / "gateway.toml"
    path.write_text(
        f"site = {json.dumps(header.site)}\n"
        f"state_dir = {json.dumps(str(directory / 'state'))}\n"
        f"{doors}\n"
        '[source]\nkind = "ble"\n'
        f"[ble]\nbackend = {json.dumps(backend_spec)}\n"
        "connect_timeout_s = 10.0\nsilent_after_s = 8.0\nbackoff_min_s = 0.2\n"
        "backoff_max_s = 2.0\n"
        f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\n'
        f"outbox_path = {json.dumps(str(directory / 'outbox.sqlite3'))}\n"
        "discovery = false\nreconnect_min = 0.1\nreconnect_max = 1.0\n"
        f"interval_seconds = {config.interval_s}\ninterval_grace = {config.grace_s}\n",
        encoding="utf-8",
    )
    return path


def committed_intervals(outbox: Path) -> Counts:
    """The intervals the gateway has published into its outbox (committed, durable)."""
    if not outbox.exists():
        return {}
    db = sqlite3.connect(f"file:{outbox}?mode=ro", uri=True, timeout=10)
    try:
        rows = db.execute(
            "SELECT door, start, entries, exits FROM intervals WHERE published = 1"
        ).fetchall()
    except sqlite3.OperationalError:
        return {}
    finally:
        db.close()
    return {(door, int(start)): (int(e), int(x)) for door, start, e, x in rows}


def outbox_depth(outbox: Path) -> int:
    db = sqlite3.connect(f"file:{outbox}?mode=ro", uri=True, timeout=10)
    try:
        return int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
    finally:
        db.close()


def stored_intervals(victoria: Victoria) -> Counts:
    """Per (door, start): the interval counts VictoriaMetrics holds."""
    fields: dict[str, dict[tuple[str, int], int]] = {}
    for name in ("entries", "exits"):
        values: dict[tuple[str, int], int] = {}
        for labels, samples in victoria.export(f"door_interval_{name}").items():
            door = dict(labels)["door"]
            for ms, value in samples.items():
                values[door, ms // 1000] = int(value)
        fields[name] = values
    keys = set(fields["entries"]) | set(fields["exits"])
    return {k: (fields["entries"].get(k, 0), fields["exits"].get(k, 0)) for k in keys}


def holds(stored: Counts, key: tuple[str, int], value: tuple[int, int]) -> bool:
    """The store holds this interval value, or a later revision (counts only grow)."""
    have = stored.get(key)
    return have is not None and have[0] >= value[0] and have[1] >= value[1]


def caught_up(stored: Counts, target: Counts) -> bool:
    """Every committed value is stored (or a later revision: counts only grow)."""
    for key, (entries, exits) in target.items():
        have = stored.get(key)
        if have is None or have[0] < entries or have[1] < exits:
            return False
    return True


def expected_intervals(recording: Path, seconds: int) -> tuple[Counts, int]:
    """The recording replayed (advance lines honoured, no final `finish`: the gateway was
    stopped, not ended), its crossings aggregated into the gateway's intervals."""
    from gateway.core.events import Crossing
    from gateway.pipeline.recording import replay_recording

    header, events = replay_recording(recording, finish=False)
    crossings = [e for e in events if isinstance(e, Crossing)]
    counts: dict[tuple[str, int], list[int]] = {}
    for c in crossings:
        slot = counts.setdefault((c.door, math.floor(c.t / seconds) * seconds), [0, 0])
        slot[0 if c.direction == "in" else 1] += 1
    if counts:  # every door has every interval, zeros included, as the gateway publishes
        starts = {s for _, s in counts}
        for door in (d.door for d in header.doors):
            for start in range(min(starts), max(starts) + seconds, seconds):
                counts.setdefault((door, start), [0, 0])
    return {k: (v[0], v[1]) for k, v in counts.items()}, len(crossings)


def eval_totals(recording: Path) -> tuple[int, int]:
    """`doorcount eval` of the recording: entries and exits over the site."""
    out = recording.with_suffix(".crossings.jsonl")
    subprocess.run(  # noqa: S603 - our own module, no shell
        python_m("gateway.cli", "eval", str(recording), "--crossings", str(out), "--json"),
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return (sum(r["direction"] == "in" for r in rows), sum(r["direction"] == "out" for r in rows))


@dataclass
class Delivery:
    """The trace's ticks against the gateway's recording."""

    missing: list[tuple[str, int, int]]
    gone: list[tuple[str, int, int]]

    def describe(self) -> str:
        by_node = Counter(node for node, _, _ in self.missing)
        return "missing " + ", ".join(f"{node} {n}" for node, n in sorted(by_node.items()))


def _keys(path: Path) -> list[tuple[str, int, int]]:
    out = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if '"tick"' in line:
                t = json.loads(line)
                out.append((t["node"], t["boot"], t["seq"]))
    return out


def last_interval(recording: Path, seconds: int) -> int | None:
    """Start of the gateway interval that holds the last tick received (its `rx`, gateway
    time): no crossing of the run lies in a later one."""
    last = None
    with open(recording, encoding="utf-8") as lines:
        for line in lines:
            if '"tick"' in line:
                rx = float(json.loads(line)["rx"])
                last = rx if last is None else max(last, rx)
    return None if last is None else math.floor(last / seconds) * seconds


def delivery(trace: Path, recording: Path) -> Delivery:
    """Which trace ticks the gateway has not received: `gone` if they are the tail of a boot
    that ended in a reboot (after the last tick of that boot received: still in the node's
    RAM ring when it rebooted), else `missing`."""
    received = set(_keys(recording)) if recording.exists() else set()
    seqs: dict[tuple[str, int], list[int]] = {}
    for node, boot, seq in _keys(trace):
        seqs.setdefault((node, boot), []).append(seq)
    ended = set()
    boots_of: dict[str, list[int]] = {}
    for node, boot in seqs:  # in trace order: a node's later boot follows its earlier one
        if boots_of.setdefault(node, []):
            ended.add((node, boots_of[node][-1]))
        boots_of[node].append(boot)
    result = Delivery([], [])
    for (node, boot), numbers in seqs.items():
        got = [s for s in numbers if (node, boot, s) in received]
        last = max(got, default=-1)
        for s in numbers:
            if (node, boot, s) not in received:
                tail = (node, boot) in ended and s > last
                (result.gone if tail else result.missing).append((node, boot, s))
    return result


def unique_ticks(recording: Path) -> tuple[int, int]:
    """(unique (node, boot, seq) received, ticks received more than once)."""
    seen = Counter(_keys(recording))
    return len(seen), sum(n - 1 for n in seen.values())


# -- the run --------------------------------------------------------------------------------


class Chain:
    """The gateway and bridge processes, restartable; the servers they use."""

    def __init__(
        self, directory: Path, broker: Mosquitto, victoria: Victoria, gateway_config: Path
    ) -> None:
        self.directory = directory
        self.broker = broker
        self.victoria = victoria
        self.gateway_config = gateway_config
        self.recording = directory / "recording.jsonl"
        self.outbox = directory / "outbox.sqlite3"
        self.gateway: subprocess.Popen[bytes] | None = None
        self.bridge: subprocess.Popen[bytes] | None = None

    def start_gateway(self) -> None:
        self.gateway = start_gateway(self.gateway_config, "--record", str(self.recording))

    def start_bridge(self) -> None:
        self.bridge = start_bridge(
            self.broker.port,
            ["--influx-url", self.victoria.url],
            TOKEN,
            self.directory / "bridge.log",
            client_id="soak-bridge",
            batch_size=100,
        )

    def check_alive(self) -> None:
        for name, proc in (("gateway", self.gateway), ("bridge", self.bridge)):
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(
                    f"the {name} exited ({proc.returncode}): see {self.directory}/{name}.log"
                )

    def inject(self, kind: str, outage: float) -> None:
        if kind == "gateway SIGKILL":
            stop(self.gateway, signal.SIGKILL)
            time.sleep(outage / 2)
            self.start_gateway()
        elif kind == "broker restart":
            self.broker.stop()
            time.sleep(outage)
            self.broker.start()
        elif kind == "tsdb outage":
            self.victoria.stop()
            time.sleep(outage)
            self.victoria.start()
        elif kind == "bridge SIGKILL":
            stop(self.bridge, signal.SIGKILL)
            time.sleep(outage / 2)
            self.start_bridge()
        else:
            raise ValueError(kind)

    def close(self) -> None:
        stop(self.gateway)
        stop(self.bridge)


class Watcher(threading.Thread):
    """Polls the gateway's committed intervals and the store every 0.5 s: how long each
    committed interval value (each revision) waited until the store held it."""

    def __init__(self, chain: Chain) -> None:
        super().__init__(daemon=True)
        self.chain = chain
        self.halt = threading.Event()
        self.waits: list[Wait] = []
        self._waiting: dict[tuple[str, int], tuple[tuple[int, int], float]] = {}
        self._stored: dict[tuple[str, int], tuple[int, int]] = {}

    def run(self) -> None:
        while not self.halt.wait(0.5):
            self.poll()

    def poll(self) -> None:
        now = time.monotonic()
        for key, value in committed_intervals(self.chain.outbox).items():
            if self._stored.get(key) != value and self._waiting.get(key, (None,))[0] != value:
                self._waiting[key] = (value, now)
        if not self._waiting:
            return
        try:
            stored = stored_intervals(self.chain.victoria)
        except (OSError, ValueError, AssertionError):
            return  # the store is down (an outage fault); the final comparison will tell
        now = time.monotonic()
        for key, (value, since) in list(self._waiting.items()):
            if holds(stored, key, value):
                self.waits.append(Wait(key, since, now))
                self._stored[key] = value
                del self._waiting[key]


def schedule(config: SoakConfig) -> list[tuple[float, str]]:
    """(seconds after the replay starts, fault kind): evenly spread, 4 per 10 trace minutes."""
    count = len(KINDS) * max(1, round(config.minutes / 10))
    span = config.minutes * 60.0
    return [(span * (k + 1) / (count + 1), KINDS[k % len(KINDS)]) for k in range(count)]


def run_soak(config: SoakConfig, directory: Path, say: Callable[[str], None] = print) -> SoakResult:  # noqa: PLR0915 - the soak script: one linear sequence of steps
    from gateway.config import Pairing, save_pairings

    began = time.monotonic()
    directory.mkdir(parents=True, exist_ok=True)
    trace = directory / "trace.jsonl"
    header, trace_ticks = make_trace(config, trace)
    nodes = len({ref.node for d in header.doors for ref in (d.outer, d.inner)})
    say(
        f"trace: {len(header.doors)} doors, {nodes} nodes, {trace_ticks} ticks, "
        f"{config.minutes:g} min"
    )
    faults: list[Fault] = []
    with ExitStack() as stack:
        broker = Mosquitto(directory / "mosquitto")
        broker.start()
        stack.callback(broker.stop)
        victoria = Victoria(directory / "victoria")
        victoria.start()
        stack.callback(victoria.stop)
        sim = Simulator(trace, directory, config, nodes)
        stack.callback(sim.close)
        backend = f"bumble:tcp-client:127.0.0.1:{sim.hci_port}"
        state = directory / "state"
        state.mkdir(exist_ok=True)
        paired = asyncio.run(pair_nodes(backend, state / "ble-keys.json", sim.addresses))
        by_node = {p.node: p.address for p in paired}
        save_pairings(
            state / "pairings.json",
            [
                Pairing(
                    node=ref.node,
                    address=by_node[ref.node],
                    door=d.door,
                    position=position,
                    beam=ref.beam,
                    paired_at=time.time(),
                )
                for d in header.doors
                for position, ref in (("outer", d.outer), ("inner", d.inner))
            ],
        )
        say(f"paired {len(paired)} nodes in {time.monotonic() - sim.started:.1f} s")
        chain = Chain(
            directory,
            broker,
            victoria,
            write_gateway_config(directory, header, backend, broker, config),
        )
        stack.callback(chain.close)
        chain.start_bridge()
        chain.start_gateway()
        watcher = Watcher(chain)
        watcher.start()
        stack.callback(watcher.halt.set)
        for offset, kind in schedule(config):
            delay = sim.replay_at + offset - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            chain.check_alive()
            say(f"fault at +{time.monotonic() - sim.replay_at:.0f} s: {kind}")
            fault = Fault(kind, time.monotonic())
            faults.append(fault)
            chain.inject(kind, config.outage_s)
            fault.ended = time.monotonic()
        end = sim.replay_at + config.minutes * 60.0
        wait_for(lambda: bool(sim.summary), end - time.monotonic() + 120, "the replay ended")
        served = sim.summary["served"]
        say(f"replay done: {served} ticks served; waiting for the chain to drain")
        wait_for(
            lambda: not delivery(trace, chain.recording).missing,
            180,
            "every tick received",
            lambda: delivery(trace, chain.recording).describe(),
        )

        # The last interval closes at its end + grace, then the outbox and the bridge drain.
        # It closes on the gateway's clock, so "end + grace" on ours is not enough: wait until
        # the gateway has committed, for every door, the interval of the last tick it received.
        last = last_interval(chain.recording, config.interval_s)
        doors = [d.door for d in header.doors]

        def drained() -> bool:
            chain.check_alive()
            if outbox_depth(chain.outbox) != 0:
                return False
            if time.monotonic() <= end + config.interval_s + config.grace_s + 2:
                return False
            committed = committed_intervals(chain.outbox)
            return last is None or all((door, last) in committed for door in doors)

        wait_for(drained, config.interval_s + config.grace_s + 180, "the outbox drained")
        planned = end + config.interval_s + config.grace_s
        say(
            f"the last interval committed and drained "
            f"{time.monotonic() - planned:+.1f} s after end + grace"
        )
        final = committed_intervals(chain.outbox)
        with suppress(TimeoutError):  # if not, the comparison below says where
            wait_for(
                lambda: caught_up(stored_intervals(victoria), final), 60, "the store caught up"
            )
        watcher.halt.set()
        watcher.join()
        chain.close()
        stored = stored_intervals(victoria)
    expected, crossings = expected_intervals(chain.recording, config.interval_s)
    received, twice = unique_ticks(chain.recording)
    delivered = delivery(trace, chain.recording)
    revisions = _revisions(chain.outbox)
    lost = doubled = stale = 0
    problems = []
    for key in sorted(set(expected) | set(stored)):
        want, have = expected.get(key, (0, 0)), stored.get(key)
        got = have or (0, 0)
        if have is None and key in expected:
            problems.append(f"{key[0]} {key[1]}: interval not stored")
        if got == want:
            continue
        stale += revisions.get(key, 0) > 0
        for direction, w, g in (("in", want[0], got[0]), ("out", want[1], got[1])):
            lost += max(0, w - g)
            doubled += max(0, g - w)
            if w != g:
                problems.append(
                    f"{key[0]} {key[1]} {direction}: stored {g}, expected {w} "
                    f"(revision {revisions.get(key, 0)})"
                )
    return SoakResult(
        doors=len(header.doors),
        nodes=nodes,
        trace_ticks=trace_ticks,
        served=served,
        received=received,
        received_twice=twice,
        gone_at_reboot=len(delivered.gone),
        missing=len(delivered.missing),
        link_losses=sim.summary["link_losses"],
        reboots=sim.summary["reboots"],
        crossings=crossings,
        eval_totals=eval_totals(chain.recording),
        stored_totals=(sum(v[0] for v in stored.values()), sum(v[1] for v in stored.values())),
        expected=expected,
        stored=stored,
        lost=lost,
        doubled=doubled,
        faults=faults,
        waits=watcher.waits,
        corrections=sum(revisions.values()),
        stale=stale,
        wall_s=time.monotonic() - began,
        problems=problems,
    )


def _revisions(outbox: Path) -> dict[tuple[str, int], int]:
    """Per interval, how often the gateway corrected it after publishing it."""
    db = sqlite3.connect(f"file:{outbox}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT door, start, revision FROM intervals WHERE revision > 0")
        return {(door, int(start)): int(revision) for door, start, revision in rows}
    finally:
        db.close()


# -- the command ----------------------------------------------------------------------------


def table_rows(result: SoakResult) -> list[tuple[str, str]]:
    counts = result.fault_counts
    faults = ", ".join(f"{kind} {counts[kind]}" for kind in KINDS)
    catch = {kind: result.catch_up_after(kind) for kind in KINDS}
    expected_in = sum(v[0] for v in result.expected.values())
    expected_out = sum(v[1] for v in result.expected.values())
    return [
        ("doors / nodes", f"{result.doors} / {result.nodes}"),
        (
            "ticks in the trace / served / received",
            f"{result.trace_ticks:,} / "
            f"{result.served:,} / {result.received:,} ({result.received_twice:,} twice)",
        ),
        (
            "crossings (engine replay of the recording)",
            f"{result.crossings:,} ({expected_in:,} in, {expected_out:,} out)",
        ),
        (
            "doorcount eval of the recording (in / out)",
            f"{result.eval_totals[0]:,} / {result.eval_totals[1]:,}",
        ),
        (
            "stored in VictoriaMetrics (in / out)",
            f"{result.stored_totals[0]:,} / {result.stored_totals[1]:,}",
        ),
        ("intervals compared (door x interval)", f"{len(result.expected):,}"),
        ("faults injected", f"{len(result.faults)}: {faults}"),
        ("node faults (simulator)", f"{result.link_losses} link losses, {result.reboots} reboots"),
        ("  ticks gone with a node reboot (its RAM ring)", f"{result.gone_at_reboot}"),
        ("ticks missing (sent, never received)", f"{result.missing}"),
        ("interval corrections published", f"{result.corrections}"),
        ("  of them wrong in the store (stale revision)", f"{result.stale}"),
        ("lost", f"{result.lost}"),
        ("doubled", f"{result.doubled}"),
        ("interval values timed commit -> store", f"{len(result.waits):,}"),
        ("longest catch-up (commit -> store)", f"{result.longest_catch_up:.1f} s"),
        ("  longest after each fault kind", ", ".join(f"{k} {v:.1f} s" for k, v in catch.items())),
        ("wall time", f"{result.wall_s:.0f} s"),
    ]


@contextmanager
def work_directory(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="doorcount-soak-") as tmp:
        yield Path(tmp)


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--doors", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=2.0, help="trace = wall minutes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate", type=float, default=20.0, help="people/min per door")
    parser.add_argument(
        "--disconnect-every",
        type=float,
        default=4.0,
        help="mean seconds between random node link losses, site-wide",
    )
    parser.add_argument(
        "--interval",
        type=int,
        default=60,
        help="the gateway's interval seconds (a divisor of a day)",
    )
    parser.add_argument(
        "--grace", type=float, default=40.0, help="the gateway's interval grace (s)"
    )
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it (logs)")
    args = parser.parse_args(argv)
    # A SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C: every process the run started stops.
    signal.signal(signal.SIGTERM, _terminate)

    from rich.console import Console
    from rich.table import Table

    console = Console()
    config = SoakConfig(
        doors=args.doors,
        minutes=args.minutes,
        seed=args.seed,
        rate=args.rate,
        disconnect_every=args.disconnect_every,
        interval_s=args.interval,
        grace_s=args.grace,
    )
    with work_directory(args.keep) as directory:
        result = run_soak(config, directory, say=console.print)
    table = Table(
        title=f"doorcount soak: {args.doors} doors, {args.minutes:g} min, seed {args.seed}"
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    for row in table_rows(result):
        table.add_row(*row)
    console.print(table)
    for problem in result.problems[:20]:
        console.print(f"  {problem}")
    return 1 if result.lost or result.doubled or result.missing else 0


if __name__ == "__main__":
    sys.exit(main())
