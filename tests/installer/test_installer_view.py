"""What the installer commands print, as exact lines, and the next step for each failure."""

from __future__ import annotations

import pytest

from gateway.config import Pairing
from gateway.errors import BleError, ConfigError, NotBondedError, PairingError
from gateway.installer.view import (
    NodeView,
    ScanRow,
    StepError,
    duration,
    is_address,
    next_step_for,
    node_line,
    paired_lines,
    scan_lines,
)
from gateway.protocol import wire
from gateway.protocol.gatt import parse_passkey

A1 = "DF:20:AE:51:2C:D7"
A2 = "ED:A1:AE:17:DC:58"


def pairing(position: str, node: str = "n01", beam: int = 0) -> Pairing:
    return Pairing(node=node, address=A1, door="front", position=position, beam=beam, paired_at=0.0)


def test_scan_lines() -> None:
    rows = [
        ScanRow(A1, -48, "n01", True, []),
        ScanRow(A2, -71, "n02", False, [pairing("outer", "n02")]),
        ScanRow("C0:00:00:00:00:01", -90, None, False, [], bonded_elsewhere=True),
        ScanRow("C0:00:00:00:00:02", -95, None, False, [], bonded_here=True),
    ]
    assert scan_lines(rows) == [
        "4 nodes nearby, strongest first:",
        f" -48 dBm  n01          {A1}  PAIRING  not paired",
        f" -71 dBm  n02          {A2}  -        paired: front outer",
        " -90 dBm  ?            C0:00:00:00:00:01  -        not paired here (bonded elsewhere)",
        " -95 dBm  ?            C0:00:00:00:00:02  -        bonded, no door: pair it again",
    ]


def test_paired_lines_say_what_comes_next() -> None:
    assert paired_lines("n01", A1, [pairing("outer")], door_ready=False) == [
        f"paired n01 ({A1})",
        "  door front outer (beam 0)",
        "next: press the button on the node at door front's inner beam, then doorcount pair "
        "<the id on its label> --door front --position inner (doorcount scan shows its id once "
        "the button is pressed)",
    ]
    both = [pairing("outer"), pairing("inner", beam=1)]
    assert paired_lines("n01", A1, both, door_ready=True)[1:] == [
        "  door front outer (beam 0) + front inner (beam 1)",
        "next: doorcount walktest --door front",
    ]


def test_node_line_shows_live_health() -> None:
    status = wire.Status(
        boot_id=7,
        node_us=(3 * 3600 + 5) * 1_000_000 % 2**32,
        uptime_s=3 * 3600 + 5,
        battery_mv=2900,
        battery_pct=81,
        beams_broken=0b10,
        ticks_buffered=0,
        ticks_dropped=0,
        next_seq=12,
    )
    assert node_line(NodeView("n01", A1, -60, status)) == (
        f"  n01          {A1}  -60 dBm  battery 81%  BEAM 1 BROKEN  up 3h"
    )
    assert node_line(NodeView("n02", None, problem="no BLE address (not paired)")) == (
        "  n02          no address  no BLE address (not paired)"
    )


@pytest.mark.parametrize(
    ("error", "step"),
    [
        (
            NotBondedError("x", A1),
            f"doorcount unpair {A1}, press the button on {A1}, then doorcount pair {A1} "
            "--door <the door it is mounted on>",
        ),
        (BleError("no connection within 20 s", A1), "sudo systemctl stop doorcount-gateway"),
        (ConfigError("cannot read config /x: No such file"), "DOORCOUNT_CONFIG"),
        (StepError("x", "do this"), "do this"),
        (PermissionError(13, "Permission denied"), "sudo"),
    ],
)
def test_every_failure_comes_with_a_next_step(error: Exception, step: str) -> None:
    assert step in next_step_for(error)


def test_a_malformed_passkey_names_the_label_and_gets_a_next_step() -> None:
    with pytest.raises(PairingError) as info:
        parse_passkey("12345")
    assert "6 digits" in str(info.value)
    assert "--passkey 042913" in next_step_for(info.value)


def test_helpers() -> None:
    assert is_address("df:20:ae:51:2c:d7")
    assert not is_address("lobby-east")
    assert not is_address("DF:20:AE:51:2C")
    assert [duration(s) for s in (59, 600, 7200, 200000)] == ["59s", "10m", "2h", "2d"]
