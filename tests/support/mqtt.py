"""MQTT test fixtures: a real Mosquitto on 127.0.0.1 (persistence on), TLS material, a collector.

Registered for every test by `pytest_plugins` in tests/conftest.py.
Without the mosquitto binary the fixture skips locally and FAILS in CI (env CI=true), so a
missing install step shows.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def need_binary(name: str) -> str:
    path = shutil.which(name, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    if path is None:
        message = f"{name} is not installed (apt-get install -y mosquitto)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@dataclass
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def make_tls(directory: Path) -> TlsFiles:
    """A throw-away CA and a server certificate for 127.0.0.1 / localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "doorcount test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


@dataclass
class Mosquitto:
    """One mosquitto process with its own config and persistence directory; stop by PID."""

    directory: Path
    port: int = field(default_factory=free_port)
    users: dict[str, str] | None = None
    tls: TlsFiles | None = None
    host: str = "127.0.0.1"
    proc: subprocess.Popen[bytes] | None = None

    def write_config(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        lines = [
            f"listener {self.port} {self.host}",
            "user root",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "persistence true",
            f"persistence_location {self.directory}/",
            "autosave_interval 1",
            "max_queued_messages 0",
            "max_inflight_messages 100",
        ]
        if self.users:
            passwd = self.directory / "passwd"
            passwd.write_text("")
            tool = need_binary("mosquitto_passwd")
            for user, password in self.users.items():
                subprocess.run([tool, "-b", str(passwd), user, password], check=True)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        if self.tls is not None:
            lines += [
                f"cafile {self.tls.ca}",
                f"certfile {self.tls.cert}",
                f"keyfile {self.tls.key}",
            ]
        config = self.directory / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        return config

    def start(self) -> None:
        binary = need_binary("mosquitto")
        config = self.write_config()
        log = open(self.directory / "mosquitto.log", "ab")  # noqa: SIM115 - the process owns it
        self.proc = subprocess.Popen([binary, "-c", str(config)], stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log()}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"mosquitto did not listen on {self.port}: {self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop this broker (SIGTERM saves the persistence database; SIGKILL does not)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            self.proc.wait(10)
        self.proc = None

    def log(self) -> str:
        path = self.directory / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    yield broker
    broker.stop()


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool


class Collector:
    """A test subscriber (paho in its own thread, hand-off under a lock) with a persistent
    session, so it also gets what was published while it or the broker was away."""

    def __init__(self, broker: Mosquitto, topic: str, client_id: str = "collector") -> None:
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False
        )
        if broker.users:
            user, password = next(iter(broker.users.items()))
            self.client.username_pw_set(user, password)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.topic = topic
        self.client.connect(broker.host, broker.port, keepalive=5)
        self.client.loop_start()
        if not self._connected.wait(10):
            raise RuntimeError("collector could not connect")

    def _on_connect(self, client: paho.Client, *_: object) -> None:
        client.subscribe(self.topic, qos=1)
        self._connected.set()

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain)))

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.messages)

    def wait_for(self, predicate: object, timeout: float = 30.0) -> list[Received]:
        assert callable(predicate)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            snap = self.snapshot()
            if predicate(snap):
                return snap
            time.sleep(0.02)
        raise AssertionError(f"condition not met within {timeout} s; got {len(snap)} messages")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# -- gateway-level helpers ------------------------------------------------------------------


def write_trace_file(
    path: Path, scenario: str = "busy", duration_s: float = 300, seed: int = 1
) -> Path:
    """A simulator trace (deterministic for the same arguments)."""
    from gateway.protocol.trace import write_trace
    from sensor_sim.generator import generate

    header, records = generate(scenario, duration_s, seed)
    write_trace(path, header, records)
    return path


def write_run_config(
    directory: Path, broker: Mosquitto, trace: Path, speed: float = 0, **mqtt: object
) -> Path:
    """A `doorcount run` config for this broker and trace."""
    import json as _json

    values: dict[str, object] = {
        "host": broker.host,
        "port": broker.port,
        "outbox_path": str(directory / "outbox.sqlite3"),
        "reconnect_min": 0.05,
        "reconnect_max": 0.5,
        **mqtt,
    }
    lines = ["[mqtt]"] + [f"{k} = {_json.dumps(v)}" for k, v in values.items()]
    lines += ["[source]", f"trace = {_json.dumps(str(trace))}", f"speed = {speed}"]
    config = directory / "gateway.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def start_gateway(config: Path, *extra: str) -> subprocess.Popen[bytes]:
    """`doorcount run` as a separate process (so the tests can SIGKILL it)."""
    import sys

    log = open(config.parent / "gateway.log", "ab")  # noqa: SIM115 - the process owns it
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "-v", "run", "-c", str(config), *extra],
            stdout=log,
            stderr=log,
            cwd=Path(__file__).resolve().parents[2],
        )
    finally:
        log.close()


def eval_intervals(trace: Path, seconds: int = 60) -> dict[tuple[str, int], tuple[int, int]]:
    """Per (door, interval start): (entries, exits) as `doorcount eval` counts the trace."""
    import json as _json
    import math
    import sys

    out = trace.with_suffix(".crossings.jsonl")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "eval",
            str(trace),
            "--crossings",
            str(out),
            "--json",
        ],
        check=True,
        capture_output=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    counts: dict[tuple[str, int], list[int]] = {}
    for line in out.read_text().splitlines():
        c = _json.loads(line)
        key = (c["door"], math.floor(c["t"] / seconds) * seconds)
        slot = counts.setdefault(key, [0, 0])
        slot[0 if c["direction"] == "in" else 1] += 1
    return {k: (v[0], v[1]) for k, v in counts.items()}


def final_intervals(messages: list[Received]) -> dict[tuple[str, int], dict[str, int]]:
    """The subscriber's view: per (door, start) the payload with the highest revision."""
    import json as _json

    best: dict[tuple[str, int], dict[str, int]] = {}
    for m in messages:
        if m.topic.endswith("/interval"):
            p = _json.loads(m.payload)
            key = (p["door"], p["start"])
            if key not in best or best[key]["revision"] <= p["revision"]:
                best[key] = p
    return best
