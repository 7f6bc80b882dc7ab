"""Node labels with a QR code of node id and passkey, and `doorcount pair` taking the scan."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import segno

from gateway.errors import PairingError
from gateway.installer.label import label_text, main, parse_label, qr_svg
from sensor_sim.ble.link import RadioLink
from tests.support.ble import PASSKEY, nodes_on
from tests.support.installer import doorcount, registry, write_config


def test_label_text_round_trips_and_bad_labels_say_why() -> None:
    assert label_text("lobby-east", 42913) == "DOORCOUNT:1:lobby-east:042913"
    assert parse_label(" DOORCOUNT:1:lobby-east:042913\n") == ("lobby-east", 42913)
    with pytest.raises(PairingError, match="not a doorcount node label"):
        parse_label("https://example.com/x")
    with pytest.raises(PairingError, match="node id is missing or malformed"):
        parse_label("DOORCOUNT:1:a b:123456")
    with pytest.raises(PairingError, match="6 digits"):
        parse_label("DOORCOUNT:1:n01:12345")


def test_the_bench_tool_writes_an_svg_label_from_provision_json(tmp_path: Path) -> None:
    provision = tmp_path / "provision.json"
    provision.write_text(json.dumps({"node_id": "n01", "passkey": 402913, "beams": [0, 1]}))
    assert main([str(provision), "-o", str(tmp_path / "n01.svg")]) == 0
    svg = (tmp_path / "n01.svg").read_text()
    assert svg.startswith("<svg")
    assert "n01  passkey 402913" in svg
    # The QR code in it is the one segno draws for the label text.
    buf = io.BytesIO()
    segno.make("DOORCOUNT:1:n01:402913", error="m").save(
        buf, kind="svg", scale=6, border=2, xmldecl=False
    )
    assert buf.getvalue().decode() in svg
    assert svg == qr_svg("n01", 402913)
    provision.write_text(json.dumps({"node_id": "n01"}))
    assert main([str(provision), "-o", str(tmp_path / "x.svg")]) == 1


@pytest.mark.timeout(60)
async def test_pair_takes_the_scanned_label_instead_of_typed_digits(tmp_path: Path) -> None:
    radio = RadioLink(interval=0.0)
    config = write_config(tmp_path, ["front"])
    async with nodes_on(radio, ["n01", "n02"], tmp_path) as (n01, n02):
        n01.peripheral.open_pairing_window()
        line = f"pair {label_text('n01', PASSKEY)} --door front --position outer --scan-seconds 1"
        result = await doorcount(radio, config, line)
        assert result.rc == 0, result.text
        assert result.out.splitlines()[0] == f"paired n01 ({n01.address})"
        n02.peripheral.open_pairing_window()
        wrong = label_text("n01", PASSKEY)
        line = f"pair n02 --door front --position inner --scan-seconds 1 --passkey {wrong}"
        result = await doorcount(radio, config, line)
        assert result.rc == 1
        assert result.err.splitlines() == [
            "error: the scanned label is node n01's, not n02's",
            "next:  scan the label inside n02's lid, or pair n01 instead",
        ]
        right = label_text("n02", PASSKEY)
        line = f"pair n02 --door front --position inner --scan-seconds 1 --passkey {right}"
        result = await doorcount(radio, config, line)
        assert result.rc == 0, result.text
    assert [p.node for p in registry(config)] == ["n01", "n02"]
