"""The tree shows the architecture: layers import one way, top to bottom.

    commands, cli                     the command line
    evaluation, insight, installer    maintainer, operator and installer tools
    pipeline                          service: source -> engine -> intervals/occupancy -> outbox
    sources                           where ticks come from (BLE, serial, trace files)
    config                            the one validated configuration
    outputs                           where counts go (outbox, MQTT, bridge)
    core                              the counting engine (sans-IO)
    protocol                          wire frames, node sessions, the trace format
    errors, __init__                  the base error, the version

A module may import its own layer and the layers below it, never one above; `gateway` never
imports `sensor_sim` (the simulator uses the gateway, not the reverse). Imports are read from
the source (ast), type-only imports included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = [
    ("errors", "__init__"),
    ("protocol",),
    ("core",),
    ("outputs",),
    ("config",),
    ("sources",),
    ("pipeline",),
    ("evaluation", "insight", "installer"),
    ("commands", "cli"),
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _part(module: str) -> str | None:
    """The layer name of a `gateway...` module name (None outside the gateway)."""
    parts = module.split(".")
    if parts[0] != "gateway":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


def _gateway_modules() -> list[Path]:
    return sorted((ROOT / "gateway").rglob("*.py"))


def test_every_gateway_module_belongs_to_a_layer() -> None:
    unknown = [
        str(p.relative_to(ROOT))
        for p in _gateway_modules()
        if _part(".".join(p.relative_to(ROOT).with_suffix("").parts)) not in RANK
    ]
    assert unknown == []


def test_top_level_holds_only_entry_modules() -> None:
    top = sorted(p.name for p in (ROOT / "gateway").glob("*.py"))
    assert top == ["__init__.py", "cli.py", "config.py", "errors.py"]


@pytest.mark.parametrize("path", _gateway_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_a_higher_layer(path: Path) -> None:
    own = _part(".".join(path.relative_to(ROOT).with_suffix("").parts))
    assert own is not None
    wrong = []
    for line, name in _imports(path):
        if name.split(".")[0] == "sensor_sim":
            wrong.append(f"line {line}: {name} (the gateway never imports the simulator)")
            continue
        other = _part(name)
        if other is None or other not in RANK:
            continue  # a third-party module, or `from gateway.x import y` read as a name
        if RANK[other] > RANK[own]:
            wrong.append(f"line {line}: {name} ({other} is above {own})")
    assert wrong == []
