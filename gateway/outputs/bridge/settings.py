"""What the MQTT-to-InfluxDB bridge needs to know; validated before any I/O.

Values come from the TOML config (composed by the config module) or `DOORCOUNT_BRIDGE_*`
environment variables, e.g. `DOORCOUNT_BRIDGE_INFLUX_TOKEN`. The token is a `SecretStr`
so it never ends up in a log line or a repr.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.errors import ConfigError
from gateway.outputs.mqtt.settings import known_zone

_TOPIC_LEVEL = re.compile(r"^[^#+/\x00]+$")


class BridgeSettings(BaseSettings):
    """MQTT subscription, InfluxDB target (or the local store) and batching."""

    model_config = SettingsConfigDict(
        env_prefix="DOORCOUNT_BRIDGE_", extra="forbid", frozen=True, validate_default=True
    )

    # MQTT
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(default=1883, ge=1, le=65535)
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_tls: bool = False
    mqtt_ca_file: Path | None = None
    mqtt_keepalive: int = Field(default=30, ge=5, le=3600)
    mqtt_protocol: Literal["5", "3.1.1"] = "5"
    """3.1.1 for brokers without MQTT 5 (the demo's embedded amqtt): a persistent session
    without expiry or receive-maximum properties."""
    client_id: str = Field(default="doorcount-bridge-1", min_length=1, max_length=64)
    """Fixed per instance: the broker keeps this id's session (and un-acked messages)."""
    session_expiry: int = Field(default=7 * 24 * 3600, ge=60)
    """Seconds the broker keeps the session while the bridge is down."""
    prefix: str = "doorcount"
    share_group: str | None = None
    """Set on every instance to share the load through `$share/<group>/...` subscriptions."""
    dead_letter_topic: str = "doorcount/_bridge/deadletter"

    # InfluxDB; no URL means the embedded local store.
    influx_url: str | None = None
    influx_token: SecretStr | None = None
    """v2: an API token. v1: `username:password` (or empty without auth)."""
    influx_org: str = "doorcount"
    influx_bucket: str = "doorcount"
    """v2: the bucket. v1: `database` or `database/retention_policy`."""
    influx_api: Literal["v2", "v1"] = "v2"
    influx_timeout: float = Field(default=10.0, gt=0, le=300)

    # Local store used when influx_url is unset.
    store_path: Path = Path("doorcount-series.sqlite")

    # Batching and retries.
    batch_size: int = Field(default=100, ge=1, le=65535)
    """Messages per write; also sent as MQTT 5 Receive Maximum so the broker never has more
    un-acknowledged messages out than one batch (mosquitto's `max_inflight_messages` must be at
    least this)."""
    linger: float = Field(default=0.2, gt=0, le=60)
    """Seconds to wait for a batch to fill before writing what there is."""
    retry_initial: float = Field(default=0.5, gt=0, le=60)
    retry_max: float = Field(default=30.0, gt=0, le=3600)

    timezone: str = "UTC"
    """Local time of the sites, for the hour-of-week figures."""

    @field_validator("prefix", "share_group")
    @classmethod
    def _topic_level(cls, value: str | None) -> str | None:
        if value is not None and not _TOPIC_LEVEL.match(value):
            raise ValueError(f"must be one MQTT topic level without + # /, got {value!r}")
        return value

    @field_validator("dead_letter_topic")
    @classmethod
    def _publishable(cls, value: str) -> str:
        if not value or "+" in value or "#" in value or value.startswith("$"):
            raise ValueError(f"must be a plain topic name (no wildcards, no $), got {value!r}")
        return value

    _known_zone = field_validator("timezone")(known_zone)

    @field_validator("influx_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
        return value.rstrip("/") if value else None

    @model_validator(mode="after")
    def _consistent(self) -> BridgeSettings:
        if self.retry_max < self.retry_initial:
            raise ValueError("retry_max must be >= retry_initial")
        if self.influx_api == "v1" and self.influx_bucket.count("/") > 1:
            raise ValueError("v1 influx_bucket is 'database' or 'database/retention_policy'")
        if self.influx_api == "v1" and self.token() and ":" not in self.token():
            raise ValueError("a v1 influx_token is 'username:password'")
        if self.mqtt_password is not None and self.mqtt_username is None:
            raise ValueError("mqtt_password is set but mqtt_username is not")
        return self

    @property
    def uses_influx(self) -> bool:
        return self.influx_url is not None

    def token(self) -> str:
        return self.influx_token.get_secret_value() if self.influx_token else ""


def load_settings(**overrides: object) -> BridgeSettings:
    """Build settings from the environment plus overrides; errors become `ConfigError`."""
    from pydantic import ValidationError

    try:
        return BridgeSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"bridge settings: {problems}") from None
