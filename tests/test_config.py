"""The gateway config file: validation before I/O, env overrides, the pairing registry."""

from __future__ import annotations

import stat
import time

import pytest

from gateway.config import Pairing, load_config, load_pairings, save_pairings
from gateway.errors import ConfigError
from gateway.protocol.trace import BeamRef, DoorSpec

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
