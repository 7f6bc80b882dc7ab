"""The installer's view of one gateway: its config, pairing registry and where it keeps bonds.

Every installer command starts from a `Site`. It never writes the TOML config: what the
installer changes goes to the pairing registry (`<state_dir>/pairings.json`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gateway.config import GatewayConfig, Pairing, load_config, load_pairings, save_pairings
from gateway.errors import BleError
from gateway.installer import steps
from gateway.installer.view import StepError, is_address

if TYPE_CHECKING:
    from gateway.protocol.trace import DoorSpec
    from gateway.sources.ble.backend import Backend

KEYSTORE_NAME = "ble-keys.json"
"""The bumble backend's bond store, under `state_dir` (the OS backend uses BlueZ's)."""


class Site:
    """The config, the pairing registry and where this gateway keeps its bonds."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.config: GatewayConfig = load_config(path)
        self.pairings: list[Pairing] = load_pairings(self.config.registry_path)

    @property
    def keystore(self) -> Path:
        return self.config.state_dir / KEYSTORE_NAME

    async def open_backend(self) -> Backend:
        """The configured BLE stack; an adapter that cannot be opened says so (not the node)."""
        from gateway.sources.ble.backend import open_backend

        # The bumble central writes its identity next to the key store before creating it.
        self.keystore.parent.mkdir(parents=True, exist_ok=True)
        spec = self.config.ble.backend
        try:
            return await open_backend(spec, keystore=self.keystore)
        except BleError as exc:
            if "cannot open" not in str(exc):
                raise
            raise StepError(
                f"cannot open the gateway's Bluetooth adapter ({exc})",
                steps.adapter_step(spec, self.path),
            ) from None

    def save(self, pairings: list[Pairing], *, check: bool = True) -> None:
        """Write the registry; `check` first refuses one the config could not merge."""
        if check:
            self.config.door_specs(pairings)
        save_pairings(self.config.registry_path, pairings)
        self.pairings = pairings

    def entries(self, node: str) -> list[Pairing]:
        """Registry entries for a node id or address."""
        key = node.upper()
        return [p for p in self.pairings if p.node == node or p.address.upper() == key]

    def address_of(self, node: str) -> str | None:
        if is_address(node):
            return node.upper()
        for p in self.pairings:
            if p.node == node:
                return p.address.upper()
        for n in self.config.nodes:
            if n.id == node and n.address:
                return n.address.upper()
        return None

    def node_of(self, address: str) -> str | None:
        key = address.upper()
        for p in self.pairings:
            if p.address.upper() == key:
                return p.node
        for n in self.config.nodes:
            if n.address and n.address.upper() == key:
                return n.id
        return None

    def door_spec(self, name: str) -> DoorSpec:
        if name not in {d.name for d in self.config.doors}:
            raise StepError(
                f"door {name!r} is not in the config",
                f'add [[doors]] name = "{name}" to {self.path}',
            )
        for spec in self.config.door_specs(self.pairings):
            if spec.door == name:
                return spec
        positions = {p.position for p in self.pairings if p.door == name}
        door = next(d for d in self.config.doors if d.name == name)
        missing = [
            pos
            for pos, beam in (("outer", door.outer), ("inner", door.inner))
            if beam is None and pos not in positions
        ] or ["outer"]
        raise StepError(
            f"door {name!r} has no {' or '.join(missing)} beam yet",
            steps.pair_beam_step(name, missing[0]),
        )

    def stale_fix(self, node: str) -> str:
        """The exact fix for a node that lost our bond (it was reset or re-paired elsewhere)."""
        return steps.stale_bond_step(node, [p for p in self.pairings if p.node == node])
