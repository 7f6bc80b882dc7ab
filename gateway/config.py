"""The gateway's one configuration: a TOML file, validated as a whole before any I/O.

Every section is a typed model with defaults; cross-field checks (a door's beams belong to
known nodes, a beam serves one door) run here, so a bad file fails with every problem named and
nothing started. Environment variables override the file: `DOORCOUNT_<SECTION>__<KEY>`, e.g.
`DOORCOUNT_MQTT__HOST=broker.lan` or `DOORCOUNT_MQTT__PASSWORD=...` (keep secrets out of the
file). The file is never written back: what installers change with `doorcount pair` /
`walktest` lives in the pairing registry (`<state_dir>/pairings.json`), merged in here.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from gateway.core.hours import WEEKDAY_NAMES, OpeningHours, parse_span, weekly
from gateway.core.site import DEFAULT_ZONE, OUTSIDE, DoorPlan, Role, SiteLayout, check
from gateway.core.tuning import DoorTuning, EngineConfig
from gateway.errors import ConfigError
from gateway.outputs.bridge.settings import BridgeSettings
from gateway.outputs.mqtt.settings import MqttSettings, OccupancySettings, known_zone
from gateway.protocol.trace import BeamRef, DoorSpec

Position = Literal["outer", "inner"]
NODE_ID_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class BeamConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    node: str
    beam: int = Field(default=0, ge=0, le=7)


class DoorConfig(BaseModel):
    """A doorway. Its beams come from here or from pairing (`doorcount pair --door`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    outer: BeamConfig | None = None
    inner: BeamConfig | None = None
    capacity: int | None = Field(default=None, ge=1, description="people, for the alert rule")
    tuning: DoorTuning | None = None
    role: Role = Field(
        default="entrance",
        description="entrance (visitors), staff (staff-only door), perimeter (passers-by along "
        "a frontage, no occupancy) or internal (between two zones)",
    )
    outer_zone: str = Field(default=OUTSIDE, description="the zone on the outer beam's side")
    inner_zone: str | None = Field(
        default=None, description="the zone on the inner beam's side; default: the only zone"
    )


class ZoneConfig(BaseModel):
    """An area of the site whose occupancy is kept on its own (a floor, a hall, a showroom)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64)


class ExceptionDay(BaseModel):
    """A date whose hours differ from the week: a holiday (no hours) or a special opening."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    date: dt.date
    hours: list[str] = Field(default_factory=list, description="e.g. ['10:00-14:00']; [] closed")

    @field_validator("hours")
    @classmethod
    def _spans(cls, value: list[str]) -> list[str]:
        for text in value:
            parse_span(text)
        return value


class HoursConfig(BaseModel):
    """Opening hours: crossings outside them (plus grace) are out-of-hours, not visitors.

    Each weekday lists its openings as 'HH:MM-HH:MM' (past midnight allowed); a day not
    listed is closed. Without an [hours] section the site is always open.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str = "UTC"
    grace_before_min: float = Field(default=0.0, ge=0, le=720)
    grace_after_min: float = Field(default=0.0, ge=0, le=720)
    mon: list[str] = Field(default_factory=list)
    tue: list[str] = Field(default_factory=list)
    wed: list[str] = Field(default_factory=list)
    thu: list[str] = Field(default_factory=list)
    fri: list[str] = Field(default_factory=list)
    sat: list[str] = Field(default_factory=list)
    sun: list[str] = Field(default_factory=list)
    exceptions: list[ExceptionDay] = Field(default_factory=list)

    _known_zone = field_validator("timezone")(known_zone)

    @field_validator("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    @classmethod
    def _spans(cls, value: list[str]) -> list[str]:
        for text in value:
            parse_span(text)
        return value

    @model_validator(mode="after")
    def _unique_dates(self) -> Self:
        dates = [e.date for e in self.exceptions]
        twice = sorted({d for d in dates if dates.count(d) > 1})
        if twice:
            raise ValueError(f"exception date {twice[0]} is listed twice")
        return self

    def opening_hours(self) -> OpeningHours:
        days = {name: getattr(self, name) for name in WEEKDAY_NAMES}
        return OpeningHours(
            ZoneInfo(self.timezone),
            weekly(days),
            {e.date: tuple(parse_span(s) for s in e.hours) for e in self.exceptions},
            self.grace_before_min * 60,
            self.grace_after_min * 60,
        )


class NodeConfig(BaseModel):
    """A beam node: how to reach it. Paired BLE nodes are also listed in the registry."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=16)
    address: str | None = Field(default=None, description="BLE address, e.g. F4:12:..:9A")
    serial: str | None = Field(default=None, description="wired node: serial:/dev/ttyUSB0,115200")

    @field_validator("id")
    @classmethod
    def _id_chars(cls, value: str) -> str:
        if not set(value) <= NODE_ID_CHARS:
            raise ValueError(f"node id {value!r} may only use letters, digits, '_' and '-'")
        return value


class BleConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: str = Field(
        default="os",
        description="'os' (BlueZ on Linux) or 'bumble:<transport>', e.g. 'bumble:usb:0'",
    )
    connect_timeout_s: float = Field(
        default=20.0,
        gt=0,
        description="give up on a node's connection after this long (in doorcount pair and "
        "identify: on the whole exchange)",
    )
    silent_after_s: float = Field(default=30.0, gt=0, description="no status this long: dead")
    backoff_min_s: float = Field(default=0.5, gt=0)
    backoff_max_s: float = Field(default=30.0, gt=0)

    @field_validator("backend")
    @classmethod
    def _backend(cls, value: str) -> str:
        if value != "os" and not value.startswith("bumble:"):
            raise ValueError("backend must be 'os' or 'bumble:<transport>' (e.g. bumble:usb:0)")
        return value


class BleSourceConfig(BaseModel):
    """`kind = "ble"`: the paired nodes (`doorcount pair`), over the `[ble]` backend."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["ble"]


class SerialSourceConfig(BaseModel):
    """`kind = "serial"`: the wired `[[nodes]]` with a `serial` spec."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["serial"]
    backoff_min_s: float = Field(default=0.2, gt=0, description="port reopen, first wait")
    backoff_max_s: float = Field(default=10.0, gt=0)


class TraceSourceConfig(BaseModel):
    """`kind = "trace"` (the default): replay a recorded or simulated trace."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["trace"] = "trace"
    trace: Path | None = Field(default=None, description="the file to replay")
    speed: float = Field(default=0.0, ge=0.0, description="0 = as fast as possible")


def _source_kind(value: Any) -> str | None:
    """The `[source]` table's kind; without one it is a trace replay."""
    if isinstance(value, dict):
        kind = value.get("kind", "trace")
        return kind if isinstance(kind, str) else None
    return getattr(value, "kind", None)


SourceConfig = Annotated[
    Annotated[BleSourceConfig, Tag("ble")]
    | Annotated[SerialSourceConfig, Tag("serial")]
    | Annotated[TraceSourceConfig, Tag("trace")],
    Discriminator(
        _source_kind,
        custom_error_type="source_kind",
        custom_error_message="kind must be one of 'ble', 'serial', 'trace' (lower case)",
    ),
]
"""Where `doorcount run` gets ticks: paired BLE nodes, wired serial nodes, or a trace."""


class Pairing(BaseModel):
    """What `doorcount pair` recorded about one node."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    node: str
    address: str
    door: str
    position: Position
    beam: int = 0
    paired_at: float


class PairingRegistry(BaseModel):
    """The file `doorcount pair` keeps: `{"pairings": [...]}`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pairings: list[Pairing] = Field(default_factory=list)


class GatewayConfig(BaseSettings):
    """The whole gateway configuration."""

    model_config = SettingsConfigDict(
        env_prefix="DOORCOUNT_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    site: str | None = Field(
        default=None, min_length=1, max_length=64, description="a trace brings its own"
    )
    state_dir: Path = Path("/var/lib/doorcount")
    doors: list[DoorConfig] = Field(default_factory=list)
    zones: list[ZoneConfig] = Field(
        default_factory=list, description="default: one zone, 'inside', behind every door"
    )
    hours: HoursConfig | None = None
    nodes: list[NodeConfig] = Field(default_factory=list)
    source: SourceConfig = TraceSourceConfig()
    ble: BleConfig = BleConfig()
    engine: EngineConfig = EngineConfig()
    mqtt: MqttSettings = MqttSettings()
    occupancy: OccupancySettings = OccupancySettings()
    bridge: BridgeSettings = Field(default_factory=BridgeSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file (the file arrives as init arguments).
        return env_settings, init_settings

    @model_validator(mode="after")
    def _cross_check(self) -> Self:
        problems: list[str] = []
        if self.site is None and (self.source.kind != "trace" or self.doors or self.nodes):
            problems.append("site: Field required (only a trace replay brings its own site)")
        names = [d.name for d in self.doors]
        for name in {n for n in names if names.count(n) > 1}:
            problems.append(f"door {name!r} is listed twice")
        ids = [n.id for n in self.nodes]
        for node in {n for n in ids if ids.count(n) > 1}:
            problems.append(f"node {node!r} is listed twice")
        known = set(ids)
        used: dict[tuple[str, int], str] = {}
        for door in self.doors:
            if door.outer is not None and door.outer == door.inner:
                problems.append(
                    f"door {door.name!r}: outer and inner are the same beam "
                    f"{door.outer.node}/{door.outer.beam}"
                )
                continue
            for where, beam in (("outer", door.outer), ("inner", door.inner)):
                if beam is None:
                    continue
                if beam.node not in known:
                    problems.append(
                        f"door {door.name!r} {where} beam names node {beam.node!r}, "
                        "which is not under [[nodes]]"
                    )
                key = (beam.node, beam.beam)
                if key in used:
                    problems.append(
                        f"beam {beam.node}/{beam.beam} serves both {used[key]!r} and {door.name!r}"
                    )
                used[key] = door.name
        if self.zones or any(d.role != "entrance" or d.inner_zone for d in self.doors):
            problems.extend(self._zone_problems())
        if problems:
            raise ValueError("; ".join(sorted(problems)))
        return self

    def _zone_problems(self) -> list[str]:
        problems = [
            f"door {d.name!r} needs inner_zone: the site has several zones"
            for d in self.doors
            if d.inner_zone is None and d.role != "perimeter" and len(self.zones) > 1
        ]
        try:
            plans = self.door_plans()
        except ValueError:
            return problems
        zones = [z.name for z in self.zones] or [DEFAULT_ZONE]
        problems.extend(check(zones, plans))
        return problems

    # -- derived -----------------------------------------------------------------------

    def door_plans(self) -> tuple[DoorPlan, ...]:
        """Each door's role and zones, defaults filled in."""
        only = self.zones[0].name if self.zones else DEFAULT_ZONE
        return tuple(
            DoorPlan(d.name, d.role, d.outer_zone, d.inner_zone or only) for d in self.doors
        )

    def layout(self) -> SiteLayout:
        """Zones, door roles and opening hours, as the pipeline and the evaluation use them."""
        return SiteLayout(
            zones=tuple(z.name for z in self.zones) or (DEFAULT_ZONE,),
            doors=self.door_plans(),
            hours=None if self.hours is None else self.hours.opening_hours(),
            explicit=bool(self.zones),
        )

    @property
    def registry_path(self) -> Path:
        return self.state_dir / "pairings.json"

    @property
    def bond_store_path(self) -> Path:
        """BLE bonds (LTKs): shared by `doorcount pair` and the service; private."""
        return self.state_dir / "ble-keys.json"

    def engine_config(self) -> EngineConfig:
        """Engine tuning with each door's own overrides folded in."""
        overrides = {d.name: d.tuning for d in self.doors if d.tuning is not None}
        if not overrides:
            return self.engine
        return self.engine.model_copy(update={"doors": {**self.engine.doors, **overrides}})

    def door_specs(self, pairings: list[Pairing] | None = None) -> list[DoorSpec]:
        """Doors with both beams known, from the file and the pairing registry.

        A door missing a beam is left out (it cannot count yet); `doorcount doors` says so.
        """
        pairings = load_pairings(self.registry_path) if pairings is None else pairings
        beams: dict[str, dict[str, BeamRef]] = {d.name: {} for d in self.doors}
        for door in self.doors:
            if door.outer is not None:
                beams[door.name]["outer"] = BeamRef(door.outer.node, door.outer.beam)
            if door.inner is not None:
                beams[door.name]["inner"] = BeamRef(door.inner.node, door.inner.beam)
        for p in pairings:
            if p.door not in beams:
                raise ConfigError(
                    f"node {p.node} is paired to door {p.door!r}, which the config does not "
                    f"list: add [[doors]] name = {json.dumps(p.door)} or run "
                    f"'doorcount unpair {p.node}'"
                )
            beams[p.door][p.position] = BeamRef(p.node, p.beam)
        return [
            DoorSpec(name, b["outer"], b["inner"])
            for name, b in beams.items()
            if "outer" in b and "inner" in b
        ]


class _DoorPlace(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    role: Role = "entrance"
    outer_zone: str = OUTSIDE
    inner_zone: str | None = None


class _LayoutSection(BaseModel):
    """The parts of a config file that make its `SiteLayout` (other keys are not looked at)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    zones: list[ZoneConfig] = Field(default_factory=list)
    hours: HoursConfig | None = None
    doors: list[_DoorPlace] = Field(default_factory=list)


def site_layout(raw: Mapping[str, Any], doors: Sequence[str] = ()) -> SiteLayout:
    """The site layout from a config file's TOML table, for doors known elsewhere too (a
    trace header, a serial source): a door the file does not list is an entrance."""
    try:
        section = _LayoutSection.model_validate(
            {k: raw[k] for k in ("zones", "hours", "doors") if k in raw}
        )
    except ValidationError as exc:
        raise ConfigError(f"invalid config: {describe(exc)}") from None
    zones = tuple(z.name for z in section.zones) or (DEFAULT_ZONE,)
    listed = {d.name for d in section.doors}
    places = [*section.doors, *(_DoorPlace(name=d) for d in doors if d not in listed)]
    missing = [
        p.name for p in places if p.inner_zone is None and p.role != "perimeter" and len(zones) > 1
    ]
    if missing:
        raise ConfigError(
            f"invalid config: door {missing[0]!r} needs inner_zone: the site has several zones"
        )
    plans = tuple(DoorPlan(p.name, p.role, p.outer_zone, p.inner_zone or zones[0]) for p in places)
    try:
        return SiteLayout(
            zones=zones,
            doors=plans,
            hours=None if section.hours is None else section.hours.opening_hours(),
            explicit=bool(section.zones),
        )
    except ValueError as exc:
        raise ConfigError(f"invalid config: {exc}") from None


def load_config(path: str | Path, **overrides: Any) -> GatewayConfig:
    """THE way every command reads the gateway config: the TOML file, then the environment
    (`DOORCOUNT_<SECTION>__<KEY>` overrides the file), validated as a whole; every problem is
    named with its key path. Relative paths in the file (`state_dir`, `mqtt.outbox_path`,
    `source.trace`) are relative to the file's folder."""
    path = Path(path)
    data = _read_toml(path)
    data.update(overrides)
    try:
        config = GatewayConfig(**data)
    except ValidationError as exc:
        raise ConfigError(f"config {path}: {describe(exc)}") from None
    except SettingsError as exc:  # an environment override that is not valid JSON
        raise ConfigError(f"config {path}: {_env_problem(exc)}") from None
    return _anchored(config, path.parent)


def load_engine_config(path: str | Path) -> EngineConfig:
    """Engine tuning for `doorcount eval --config`: a gateway config file's `[engine]` table,
    or a file that is only that table."""
    data = _read_toml(Path(path))
    try:
        return EngineConfig.model_validate(data.get("engine", data))
    except ValidationError as exc:
        problems = "; ".join(f"engine.{part}" for part in describe(exc).split("; "))
        raise ConfigError(f"config {path}: {problems}") from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path} is not valid TOML: {exc}") from None


def _env_problem(exc: SettingsError) -> str:
    """pydantic-settings names the field, not the variable: say which variable to fix."""
    message = str(exc)
    field = message.split('"')[1] if message.count('"') >= 2 else ""
    if field:
        return (
            f"environment variable DOORCOUNT_{field.upper()} is not valid JSON "
            "(list and table values are given as JSON)"
        )
    return message


def _anchored(config: GatewayConfig, base: Path) -> GatewayConfig:
    """Relative paths resolved against the config file's folder, not the working directory."""
    update: dict[str, Any] = {}
    if not config.state_dir.is_absolute():
        update["state_dir"] = base / config.state_dir
    if not config.mqtt.outbox_path.is_absolute():
        update["mqtt"] = config.mqtt.model_copy(
            update={"outbox_path": base / config.mqtt.outbox_path}
        )
    source = config.source
    if isinstance(source, TraceSourceConfig) and source.trace and not source.trace.is_absolute():
        update["source"] = source.model_copy(update={"trace": base / source.trace})
    return config.model_copy(update=update) if update else config


def describe(exc: ValidationError) -> str:
    """One line per problem, with the key path a person would look for in the file."""
    parts = []
    for err in exc.errors():
        loc = list(err["loc"])
        if loc[:1] == ["source"] and len(loc) > 2:
            del loc[1]  # source.trace.speed -> source.speed
        where = ".".join(str(p) for p in loc)
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


def load_pairings(path: Path) -> list[Pairing]:
    """The pairing registry; a missing file is an empty registry."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"pairing registry {path} is unreadable: {exc}") from None
    try:
        return PairingRegistry.model_validate(raw).pairings
    except ValidationError as exc:
        raise ConfigError(
            f"pairing registry {path} is malformed ({describe(exc)}); fix it, or move it away "
            "and pair the nodes again"
        ) from None


def save_pairings(path: Path, pairings: list[Pairing]) -> None:
    """Atomically replace the registry (write, fsync, rename); readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    registry = PairingRegistry(pairings=sorted(pairings, key=lambda p: p.node))
    body = json.dumps(registry.model_dump(), indent=2)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".pairings-", suffix=".json")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(body + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
