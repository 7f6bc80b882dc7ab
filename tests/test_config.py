"""The gateway config file: validation before I/O, env overrides, the pairing registry."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import Pairing, load_config, load_pairings, save_pairings
from gateway.errors import ConfigError
from gateway.outputs.outbox import Outbox
from gateway.protocol.trace import BeamRef, DoorSpec
from gateway.sources.ble.source import ble_from_config
from tests.support.mqtt import Mosquitto, make_tls, write_trace_file

ROOT = Path(__file__).resolve().parent.parent

GOOD = """
site = "shop"
state_dir = "{state}"
[[nodes]]
id = "n1"
[[nodes]]
id = "n2"
[[doors]]
name = "front"
outer = {{ node = "n1" }}
inner = {{ node = "n2" }}
[[doors]]
name = "back"
[mqtt]
host = "broker.lan"
username = "gw"
password = "s3cret"
"""


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "doorcount.toml"
    path.write_text(GOOD.format(state=tmp_path / "state"))
    return path


def test_good_file_gives_doors_with_both_beams(config_file):
    config = load_config(config_file)
    assert config.door_specs() == [DoorSpec("front", BeamRef("n1", 0), BeamRef("n2", 0))]
    assert "s3cret" not in repr(config)
    assert "s3cret" not in str(config.mqtt)


def test_environment_overrides_the_file(config_file, monkeypatch):
    monkeypatch.setenv("DOORCOUNT_MQTT__HOST", "other")
    assert load_config(config_file).mqtt.host == "other"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'site = "x"\n[[doors]]\nname = "a"\nouter = { node = "zz" }\n',
            "door 'a' outer beam names node 'zz', which is not under [[nodes]]",
        ),
        ('site = "x"\n[[nodes]]\nid = "n 1"\n', "may only use letters"),
        ('site = "x"\n[mqtt]\nport = 99999\n', "mqtt.port"),
        ('site = "x"\n[ble]\nbackend = "bluez"\n', "backend must be 'os' or 'bumble:"),
        ('site = "x"\ncolour = "red"\n', "colour: Extra inputs are not permitted"),
        ('[[doors]]\nname = "a"\n', "site: Field required"),
        ('site = "x"\n[engine.default]\nglitch_s = 5\n', "engine.default.glitch_s"),
        ("site = \n", "not valid TOML"),
    ],
)
def test_bad_files_name_the_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "none.toml")


def test_pairings_complete_a_door_and_are_stored_privately(config_file):
    config = load_config(config_file)
    now = time.time()
    save_pairings(
        config.registry_path,
        [
            Pairing(
                node="n7", address="F4:00:00:00:00:07", door="back", position="outer", paired_at=now
            ),
            Pairing(
                node="n8", address="F4:00:00:00:00:08", door="back", position="inner", paired_at=now
            ),
        ],
    )
    assert stat.S_IMODE(config.registry_path.stat().st_mode) == 0o600
    specs = config.door_specs()
    assert DoorSpec("back", BeamRef("n7", 0), BeamRef("n8", 0)) in specs
    assert len(load_pairings(config.registry_path)) == 2


def test_pairing_to_an_unknown_door_says_what_to_do(config_file):
    config = load_config(config_file)
    save_pairings(
        config.registry_path,
        [Pairing(node="n7", address="x", door="side", position="outer", paired_at=0.0)],
    )
    with pytest.raises(ConfigError, match="doorcount unpair n7"):
        config.door_specs()


def test_the_deploy_example_config_is_valid(monkeypatch, tmp_path):
    from pathlib import Path

    example = Path(__file__).resolve().parent.parent / "deploy" / "gateway" / "doorcount.toml"
    monkeypatch.setenv("DOORCOUNT_STATE_DIR", str(tmp_path))
    config = load_config(example)
    assert config.source.kind == "ble"
    assert config.mqtt.tls
    assert config.engine_config().for_door("front").passing is False
    assert config.door_specs() == []  # nothing paired yet


# -- one config path: every DOORCOUNT_<SECTION>__<KEY> reaches the component that uses it ----


@pytest.mark.servers
def test_env_overrides_reach_the_mqtt_client_and_the_outbox_in_doorcount_run(
    tmp_path: Path,
) -> None:
    """The file names a wrong host, port and user and no TLS; the environment has the right
    host, port, user, password, TLS and CA file and an outbox path of its own. The broker only
    takes TLS with that user and password, so an empty outbox means they all arrived."""
    (tmp_path / "tls").mkdir()
    tls = make_tls(tmp_path / "tls")
    broker = Mosquitto(tmp_path / "mosquitto", users={"gw": "env-secret"}, tls=tls)
    broker.start()
    trace = write_trace_file(tmp_path / "t.jsonl", "busy", 60)
    config = tmp_path / "gw.toml"
    config.write_text(
        '[mqtt]\nhost = "file.invalid"\nport = 1\nusername = "file-user"\n'
        'outbox_path = "file-outbox.sqlite3"\nreconnect_min = 0.05\nreconnect_max = 0.3\n'
        f"[source]\ntrace = {json.dumps(str(trace))}\n"
    )
    env_outbox = tmp_path / "env-outbox.sqlite3"
    env = {
        **os.environ,
        "DOORCOUNT_MQTT__HOST": broker.host,
        "DOORCOUNT_MQTT__PORT": str(broker.port),
        "DOORCOUNT_MQTT__USERNAME": "gw",
        "DOORCOUNT_MQTT__PASSWORD": "env-secret",
        "DOORCOUNT_MQTT__TLS": "true",
        "DOORCOUNT_MQTT__CA_FILE": str(tls.ca),
        "DOORCOUNT_MQTT__OUTBOX_PATH": str(env_outbox),
    }
    try:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "gateway.cli",
                "-v",
                "run",
                "-c",
                str(config),
                "--drain-timeout",
                "30",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
            cwd=ROOT,
        )
    finally:
        broker.stop()
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"broker {broker.host}:{broker.port}" in run.stderr
    assert "file.invalid" not in run.stderr
    assert not (tmp_path / "file-outbox.sqlite3").exists()
    outbox = Outbox(env_outbox)
    try:
        assert outbox.depth == 0  # everything went to the TLS, password-only broker
    finally:
        outbox.close()


def test_env_override_of_the_ble_backend_reaches_the_ble_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    save_pairings(
        state / "pairings.json",
        [
            Pairing(
                node="n1",
                address="F4:00:00:00:00:01",
                door="front",
                position="outer",
                paired_at=0.0,
            ),
            Pairing(
                node="n2",
                address="F4:00:00:00:00:02",
                door="front",
                position="inner",
                paired_at=0.0,
            ),
        ],
    )
    path = tmp_path / "gw.toml"
    path.write_text(
        f'site = "shop"\nstate_dir = "{state}"\n[[doors]]\nname = "front"\n'
        '[ble]\nbackend = "os"\n[source]\nkind = "ble"\n'
    )
    monkeypatch.setenv("DOORCOUNT_BLE__BACKEND", "bumble:usb:0")
    _, _, source = ble_from_config(load_config(path))
    assert source.backend_spec == "bumble:usb:0"


def test_env_override_of_the_source_kind_and_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "gw.toml"
    path.write_text('site = "shop"\n[source]\nkind = "serial"\n')
    monkeypatch.setenv("DOORCOUNT_SOURCE__KIND", "trace")
    monkeypatch.setenv("DOORCOUNT_STATE_DIR", str(tmp_path / "elsewhere"))
    config = load_config(path)
    assert config.source.kind == "trace"
    assert config.state_dir == tmp_path / "elsewhere"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[source]\nkind = "Trace"\n', "source: kind must be one of 'ble', 'serial', 'trace'"),
        ('[source]\nkind = "trace"\ncolour = 1\n', "source.colour: Extra inputs"),
        ('site = "x"\n[source]\nkind = "ble"\nspeed = 1\n', "source.speed: Extra inputs"),
        ('site = "x"\n[source]\nkind = "serial"\ntrace = "t"\n', "source.trace: Extra inputs"),
        ('[source]\nkind = "ble"\n', "site: Field required"),
        (
            'site = "x"\n[[nodes]]\nid = "n1"\n[[doors]]\nname = "a"\n'
            'outer = { node = "n1" }\ninner = { node = "n1" }\n',
            "door 'a': outer and inner are the same beam n1/0",
        ),
    ],
)
def test_source_and_doors_are_validated_for_every_kind(
    tmp_path: Path, text: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gw.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert says in str(err.value)
    # and `doorcount run` says so in one line before starting anything
    assert main(["run", "-c", str(path), "--trace", str(path)]) == 1
    out = capsys.readouterr().err
    assert out.startswith("doorcount run: ")
    assert says in out
    assert out.count("\n") == 1


def test_environment_variable_that_is_not_json_is_named(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOORCOUNT_DOORS", "not json")
    with pytest.raises(ConfigError, match="environment variable DOORCOUNT_DOORS is not valid JSON"):
        load_config(config_file)
