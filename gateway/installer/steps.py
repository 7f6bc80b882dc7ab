"""Next steps: the exact command an installer types next, values filled in.

Pure text builders, each checked by a test that provokes the failure it answers. Every value
known to the gateway is filled in; one it cannot know (the door a never-paired node is mounted
on, the id on the label of a node not yet paired) is said in words, with the command that
tells it.
"""

from __future__ import annotations

from pathlib import Path

from gateway.config import Pairing

SERVICE_UNIT = "doorcount-gateway"
STOP_SERVICE = (
    f"if the gateway service is running it holds the links: sudo systemctl stop {SERVICE_UNIT}"
)


UNKNOWN_DOOR = (
    "--door <the door it is mounted on> --position <outer, inner or both> "
    "(doorcount doors shows each door's free beams)"
)


def pair_command(node: str, entries: list[Pairing]) -> str:
    """The `doorcount pair` command that gives `node` its beams back; with no registry entries
    its door is not known to the gateway and is asked for in words."""
    if not entries:
        return f"doorcount pair {node} {UNKNOWN_DOOR}"
    door = entries[0].door
    positions = {p.position for p in entries if p.door == door}
    if positions == {"outer", "inner"}:
        return f"doorcount pair {node} --door {door} --position both"
    entry = entries[0]
    beam = f" --beam {entry.beam}" if entry.beam else ""
    return f"doorcount pair {node} --door {door} --position {entry.position}{beam}"


def stale_bond_step(node: str, entries: list[Pairing]) -> str:
    """A bond the node no longer holds: forget ours first, then pair afresh."""
    return (
        f"doorcount unpair {node}, press the button on {node}, then {pair_command(node, entries)}"
    )


def not_bonded_step(node: str, entries: list[Pairing]) -> str:
    """A node that refuses us and for which we hold no bond: pair it."""
    return f"press the button on {node}, then {pair_command(node, entries)}"


def beam_toml(position: str, node: str, beam: int) -> str:
    return f'{position} = {{ node = "{node}", beam = {beam} }}'


def config_swap_step(
    config: Path,
    door: str,
    config_beams: dict[str, tuple[str, int]],
    paired: dict[str, tuple[str, int]],
) -> str:
    """Swap outer and inner of a door whose beams (some or all) come from the TOML file, which
    no command writes. `config_beams`: position -> (node, beam) from the file; `paired`:
    position -> (node, beam) from the registry (it overrides the file)."""
    where = f'edit {config}: under [[doors]] name = "{door}"'
    again = f"then doorcount walktest --door {door}"
    if not paired:
        outer, inner = config_beams["outer"], config_beams["inner"]
        return (
            f"{where} set {beam_toml('outer', *inner)} and {beam_toml('inner', *outer)}, "
            f"{again} (and restart the gateway service)"
        )
    # One beam from the file, one from pairing: move the file's beam to the other position
    # and pair the registry's node onto the position the file gave up.
    [(from_file, (node, beam))] = config_beams.items()
    [(from_registry, (holder, holder_beam))] = paired.items()
    extra = f" --beam {holder_beam}" if holder_beam else ""
    return (
        f"doorcount unpair {holder}; {where} replace {from_file} = ... by "
        f"{beam_toml(from_registry, node, beam)}; press the button on {holder}, then "
        f"doorcount pair {holder} --door {door} --position {from_file}{extra}; {again}"
    )


def wrong_node_step(node: str, answers_as: str, entries: list[Pairing]) -> str:
    """The node's address answers with another id (the board was re-provisioned, or the
    registry names the wrong node): give the door to the node that is there."""
    return (
        f"if {answers_as} is the node on this door now: doorcount unpair {node}, press the "
        f"button on {answers_as}, then {pair_command(answers_as, entries)}"
    )


def unreachable_step() -> str:
    return f"check it is powered (LED blip every 5 s) and within a few metres; {STOP_SERVICE}"


def adapter_step(spec: str, config: Path) -> str:
    """A bumble transport that cannot be opened (the OS backend says what BlueZ lacks)."""
    if spec.startswith("bumble:tcp"):
        return (
            f"start what serves {spec.removeprefix('bumble:')} (e.g. sensor-sim serve "
            f"--gateway-hci ...), or fix ble.backend in {config}"
        )
    return f"plug in the Bluetooth dongle for {spec!r}, or fix ble.backend in {config}"


def beam_taken_step(
    node: str, door: str, position: str, holder: str, free: list[str], beam: int
) -> str:
    """Another node holds that beam: pair onto the free one, or free the taken one."""
    if free:
        extra = f" --beam {beam}" if beam else ""
        return (
            f"{holder} already is the {position} beam; pair this one as the {free[0]}: "
            f"doorcount pair {node} --door {door} --position {free[0]}{extra}"
        )
    return f"if {holder} is the wrong node there, unpair it first: doorcount unpair {holder}"


def pair_beam_step(door: str, position: str) -> str:
    """A beam with no node yet: which node is mounted there only the label on it tells."""
    return (
        f"press the button on the node at door {door}'s {position} beam, then "
        f"doorcount pair <the id on its label> --door {door} --position {position} "
        "(doorcount scan shows its id once the button is pressed)"
    )
