"""Per-door count corrections from accepted audits (`doorcount audit`), applied when publishing.

`<state_dir>/corrections.json` maps a door to its factors (hand / device count, per direction)
and the time the installer accepted them. Published interval counts carry the corrected
counts beside the raw ones, for intervals that start after that time.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError
from gateway.protocol.trace import Direction

CORRECTIONS_NAME = "corrections.json"


@dataclass(frozen=True, slots=True)
class Correction:
    """A door's accepted correction: counts x factor, per direction, since `since`."""

    door: str
    factor_in: float
    factor_out: float
    since: float
    audit_at: float

    def __post_init__(self) -> None:
        for name in ("factor_in", "factor_out"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ConfigError(f"door {self.door}: correction {name} must be > 0, got {value!r}")

    def factor(self, direction: Direction) -> float:
        return self.factor_in if direction == "in" else self.factor_out


def corrected(count: int, factor: float) -> int:
    """A corrected count, rounded half up (counts are whole people)."""
    return math.floor(count * factor + 0.5)


def load_corrections(state_dir: Path) -> dict[str, Correction]:
    path = state_dir / CORRECTIONS_NAME
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    try:
        return {door: Correction(**c) for door, c in raw.items()}
    except (TypeError, AttributeError) as exc:
        raise ConfigError(f"{path} is not a corrections file: {exc}") from None


def save_corrections(state_dir: Path, corrections: dict[str, Correction]) -> None:
    path = state_dir / CORRECTIONS_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    body = {d: asdict(c) for d, c in corrections.items()}
    tmp.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
