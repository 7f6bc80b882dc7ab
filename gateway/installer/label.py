"""Node labels: the node id and passkey as text and as a QR code, and reading a scanned label.

The label inside the lid carries `DOORCOUNT:1:<node id>:<passkey>` as a QR code (segno), beside
the same two values in print. `doorcount pair` accepts the scanned text wherever it takes the
node id or the passkey, so nobody types six digits on a ladder (a phone or a USB scanner types
it). Labels are made on the bench from the node's `provision.json`:

    python -m gateway.installer.label provision.json -o lobby-east.svg
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
from pathlib import Path

from gateway.errors import PairingError
from gateway.protocol.gatt import parse_passkey

PREFIX = "DOORCOUNT:1:"
NODE_ID = re.compile(r"[A-Za-z0-9_-]{1,16}")
"""firmware_notes/installation.md, Provisioning: 1-16 characters [A-Za-z0-9_-]."""


def label_text(node: str, passkey: int | str) -> str:
    if not NODE_ID.fullmatch(node):
        raise PairingError(f"node id {node!r} is not 1-16 characters A-Z a-z 0-9 _ -")
    return f"{PREFIX}{node}:{parse_passkey(passkey):06d}"


def is_label(text: str) -> bool:
    return text.strip().upper().startswith(PREFIX)


def parse_label(text: str) -> tuple[str, int]:
    """(node id, passkey) from a scanned label; a clear error for anything else."""
    body = text.strip()
    if not is_label(body):
        raise PairingError(f"not a doorcount node label (it starts {body[:12]!r})", reason="LABEL")
    node, sep, key = body[len(PREFIX) :].rpartition(":")
    if not sep or not NODE_ID.fullmatch(node):
        raise PairingError("the label's node id is missing or malformed", reason="LABEL")
    return node, parse_passkey(key)


def qr_svg(node: str, passkey: int | str) -> str:
    """An SVG label: the QR code, then the node id and passkey in print."""
    import segno

    text = label_text(node, passkey)
    qr = segno.make(text, error="m")
    buf = io.BytesIO()
    qr.save(buf, kind="svg", scale=6, border=2, xmldecl=False)
    code = buf.getvalue().decode("utf-8")
    size = qr.symbol_size(scale=6, border=2)[0]
    caption = f"{node}  passkey {parse_passkey(passkey):06d}"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size + 28}">'
        f"<g>{code}</g>"
        f'<text x="{size // 2}" y="{size + 20}" font-family="monospace" font-size="14" '
        f'text-anchor="middle">{caption}</text></svg>'
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write a node's label (QR code) from provision.json"
    )
    parser.add_argument("provision", type=Path, help="the node's provision.json")
    parser.add_argument("-o", "--output", type=Path, required=True, help="SVG file to write")
    args = parser.parse_args(argv)
    try:
        raw = json.loads(args.provision.read_text(encoding="utf-8"))
        svg = qr_svg(raw["node_id"], raw["passkey"])
    except (OSError, ValueError, KeyError, PairingError) as exc:
        print(f"label: {args.provision}: {exc}", file=sys.stderr)
        return 1
    args.output.write_text(svg, encoding="utf-8")
    print(f"wrote {args.output}: label of node {raw['node_id']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
