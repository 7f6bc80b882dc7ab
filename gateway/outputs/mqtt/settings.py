"""Typed, validated MQTT and occupancy settings; every check runs before any I/O."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from gateway.outputs.mqtt.payloads import slug

OutboxPolicy = Literal["drop_oldest", "drop_newest"]


def known_zone(value: str) -> str:
    """A pydantic validator: `value` must name an IANA time zone (e.g. Europe/Paris)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
    return value


class MqttSettings(BaseModel):
    """Broker connection, topic tree and the durable outbox.

    `outbox_policy` applies when `outbox_max_rows` messages wait for the broker: `drop_oldest`
    evicts the oldest crossing events first, then the oldest other messages (interval counts
    are absolute and retained states are coalesced, so they are the last to go);
    `drop_newest` refuses new messages instead. Either way the drop is counted and reported.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "localhost"
    port: int | None = Field(default=None, ge=1, le=65535, description="1883, or 8883 with TLS")
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    username: str | None = None
    password: SecretStr | None = None
    client_id: str | None = Field(
        default=None, description="fixed id for the persistent session; default doorcount-<site>"
    )
    protocol: Literal["3.1.1", "5"] = "5"
    prefix: str = "doorcount"
    qos: Literal[1, 2] = 1
    keepalive: int = Field(default=30, ge=5, le=3600)
    session_expiry: int = Field(
        default=7 * 86400, ge=0, description="MQTT 5 session expiry, seconds"
    )
    reconnect_min: float = Field(default=0.5, gt=0)
    reconnect_max: float = Field(default=60.0, gt=0)
    outbox_path: Path = Path("doorcount-outbox.sqlite3")
    outbox_max_rows: int = Field(default=1_000_000, ge=100)
    outbox_policy: OutboxPolicy = "drop_oldest"
    outbox_sync: Literal["full", "normal"] = Field(
        default="full", description="full: fsync per batch, survives power loss"
    )
    interval_seconds: int = Field(default=60, ge=1, le=86400)
    interval_grace: float = Field(
        default=5.0, ge=0, description="wait after an interval ends before publishing it"
    )
    discovery: bool = True
    discovery_prefix: str = "homeassistant"

    @field_validator("prefix", "discovery_prefix")
    @classmethod
    def _topic_prefix(cls, value: str) -> str:
        value = value.strip("/")
        if not value or any(c in value for c in "+#\0"):
            raise ValueError(f"{value!r} is not a usable topic prefix (empty, or has + # NUL)")
        return value

    @field_validator("interval_seconds")
    @classmethod
    def _divides_day(cls, value: int) -> int:
        if 86400 % value:
            raise ValueError(f"{value} s does not divide a day; intervals must align to midnight")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not self.tls and any((self.ca_file, self.cert_file, self.key_file)):
            raise ValueError("ca_file, cert_file and key_file need tls = true")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (client certificate)")
        if self.password is not None and not self.username:
            raise ValueError("a password needs a username")
        if self.reconnect_min > self.reconnect_max:
            raise ValueError("reconnect_min is larger than reconnect_max")
        return self

    @property
    def broker_port(self) -> int:
        if self.port is not None:
            return self.port
        return 8883 if self.tls else 1883

    def client_id_for(self, site: str) -> str:
        return self.client_id or f"doorcount-{slug(site)}"


class OccupancySettings(BaseModel):
    """When site occupancy goes back to zero besides its never-negative floor."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reset_time: dt.time | None = Field(
        default=None, description="daily reset at this local time, e.g. 03:00 after closing"
    )
    timezone: str = "UTC"
    idle_reset_hours: float | None = Field(
        default=None, gt=0, description="reset after this long without a crossing"
    )

    _known_zone = field_validator("timezone")(known_zone)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
