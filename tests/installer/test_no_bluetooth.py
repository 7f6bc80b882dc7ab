"""The installer commands and `doorcount run` on a machine without Bluetooth (issue 13,
item 5): no BlueZ (no D-Bus system bus), a wrong bumble transport, no terminal for the passkey,
a pairing registry of the wrong shape. Each says what is missing and the next step, in place
of a bare `[Errno 2]` or "check the node is powered"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config import Pairing, save_pairings
from tests.support.mqtt import free_port

ROOT = Path(__file__).resolve().parents[2]
NO_BUS = "unix:path=/nonexistent/doorcount-test/system_bus_socket"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A site with one door whose two nodes are paired; BlueZ unreachable whatever the host."""
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", NO_BUS)
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
    path = tmp_path / "doorcount.toml"
    path.write_text(
        f'site = "shop"\nstate_dir = "{state}"\n[[doors]]\nname = "front"\n'
        f'[[doors]]\nname = "back"\n[mqtt]\nport = {free_port()}\n'
        f'outbox_path = "{tmp_path / "o.db"}"\n[source]\nkind = "ble"\n'
    )
    return path


COMMANDS = [
    ["scan", "--seconds", "1"],
    ["pair", "n3", "--door", "back", "--position", "outer", "--passkey", "123456"],
    ["identify", "n1"],
    ["doors"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_without_bluez_the_installer_says_what_is_missing_and_what_to_do(
    config: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    assert main([*command, "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "no Bluetooth stack: BlueZ is not reachable" in err
    assert "install and start BlueZ" in err
    assert "bumble:usb:0" in err
    assert "Errno" not in err


@pytest.mark.parametrize("command", COMMANDS[:3], ids=lambda c: c[0])
def test_a_wrong_bumble_transport_is_not_blamed_on_the_node(
    config: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    backend = f"bumble:tcp-client:127.0.0.1:{free_port()}"
    os.environ["DOORCOUNT_BLE__BACKEND"] = backend
    try:
        assert main([*command, "--config", str(config)]) == 1
    finally:
        del os.environ["DOORCOUNT_BLE__BACKEND"]
    err = capsys.readouterr().err
    assert "cannot open the gateway's Bluetooth adapter" in err
    assert "cannot open bumble transport 'tcp-client:127.0.0.1:" in err
    # the next step is about the adapter and the config, never the node
    assert f"start what serves {backend.removeprefix('bumble:')}" in err
    assert f"or fix ble.backend in {config}" in err
    assert "node is powered" not in err


def test_run_without_bluez_exits_with_the_cause_not_endless_connect_failed(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--config", str(config), "--drain-timeout", "0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("doorcount run: the tick source failed: no Bluetooth stack")
    assert "bumble:usb:0" in err
    assert err.count("\n") == 1


def test_pair_without_a_terminal_asks_for_the_passkey_option(config: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "pair",
            "n3",
            "--door",
            "back",
            "--position",
            "outer",
            "--config",
            str(config),
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        start_new_session=True,  # no controlling terminal: as from cron, systemd or a pipe
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert "no passkey given and no terminal to ask for it on" in run.stderr
    assert "--passkey" in run.stderr


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("[1, 2]", "Input should be a valid dictionary"),
        ('{"pairings": 5}', "pairings: Input should be a valid list"),
        ('{"pairings": [{"node": 1}]}', "pairings.0.node: Input should be a valid string"),
        ('{"pairs": []}', "pairs: Extra inputs are not permitted"),
    ],
)
def test_a_pairing_registry_of_the_wrong_shape_is_named(
    config: Path, capsys: pytest.CaptureFixture[str], body: str, says: str
) -> None:
    (config.parent / "state" / "pairings.json").write_text(body)
    assert main(["doors", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "pairing registry" in err
    assert "is malformed" in err
    assert says in err
    assert err.splitlines()[-1] == (
        "next:  fix the config file (or the pairing registry) as the message says"
    )
    assert "Traceback" not in err


def test_a_config_file_that_is_not_there_says_how_to_name_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", "--config", str(tmp_path / "nowhere.toml")]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"error: cannot read config {tmp_path / 'nowhere.toml'}: No such file or directory",
        "next:  pass --config with the path of the gateway's config file, or set "
        "DOORCOUNT_CONFIG to it (docs/deploy.md has an example)",
    ]
