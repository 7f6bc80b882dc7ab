"""The compose stack's own Mosquitto (deploy/mosquitto: TLS, passwords, ACL) on a free port.

`broker` is registered for every test by `pytest_plugins` in tests/conftest.py; `client`
connects as one of `USERS`.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.mqtt import free_port, make_tls, need_binary

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
USERS = {"corner_shop": "gw-pass", "bridge": "br-pass", "homeassistant": "ha-pass"}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    """deploy/mosquitto/mosquitto.conf with its container paths mapped into tmp_path."""
    binary = need_binary("mosquitto")
    tls = make_tls(tmp_path)
    passwd = tmp_path / "passwd"
    passwd.write_text("")
    for user, password in USERS.items():
        subprocess.run(
            [need_binary("mosquitto_passwd"), "-b", str(passwd), user, password], check=True
        )
    port = free_port()
    config = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text()
    config = (
        config.replace("listener 8883", f"listener {port} 127.0.0.1")
        .replace("/mosquitto/config/tls/ca.crt", str(tls.ca))
        .replace("/mosquitto/config/tls/server.crt", str(tls.cert))
        .replace("/mosquitto/config/tls/server.key", str(tls.key))
        .replace("/mosquitto/config/passwd", str(passwd))
        .replace("/mosquitto/config/acl", str(DEPLOY / "mosquitto" / "acl"))
        .replace("/mosquitto/data/", f"{tmp_path}/")
        .replace("log_dest stdout", "log_dest stderr")
    )
    path = tmp_path / "mosquitto.conf"
    path.write_text("user root\n" + config)
    log = open(tmp_path / "mosquitto.log", "wb")  # noqa: SIM115 - the process owns it
    proc = subprocess.Popen([binary, "-c", str(path)], stdout=log, stderr=log)
    deadline = time.monotonic() + 10
    while True:
        assert proc.poll() is None, (tmp_path / "mosquitto.log").read_text()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    yield port
    proc.terminate()
    proc.wait(10)
    log.close()


def client(port: int, user: str, ca: Path) -> paho.Client:
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{user}", protocol=paho.MQTTv5)
    c.username_pw_set(user, USERS[user])
    c.tls_set(ca_certs=str(ca))
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c
