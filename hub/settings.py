"""Hub settings from ``METRO_HUB_*`` environment variables (or a .env file)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.conference.settings import ConferenceSettings

_DEV_SECRET = "dev-insecure-secret-change-me"  # noqa: S105 - the placeholder that production refuses


class HubSettings(BaseSettings):
    """Every hub setting, with its unit in the description."""

    model_config = SettingsConfigDict(env_prefix="METRO_HUB_", extra="forbid", env_file=None)

    environment: str = Field("development", description="development or production; production rejects placeholder secrets")
    data_dir: Path = Field(Path("var/hub"), description="Folder for the SQLite database, media and the embedded broker")
    database_url: str | None = Field(None, description="SQLAlchemy URL; unset means SQLite in data_dir/hub.db")
    mqtt_url: str | None = Field(None, description="mqtt:// or mqtts:// URL of the broker; unset starts the embedded broker")
    broker_port: int = Field(1883, ge=0, le=65535, description="Port of the embedded broker on 127.0.0.1 (0 picks a free one)")
    mqtt_client_id: str = Field("metro-hub", description="MQTT client id of this hub worker; the persistent session is keyed by it")
    mqtt_shared_group: str | None = Field(None, description="MQTT 5 shared-subscription group, for several hub workers on one broker")
    mqtt_username: str | None = Field(None, description="Broker user name; a user name in mqtt_url takes precedence")
    mqtt_password: SecretStr | None = Field(None, description="Broker password; a password in mqtt_url takes precedence")
    mqtt_ca_file: Path | None = Field(None, description="CA bundle to verify an mqtts:// broker; unset uses the system store")
    mqtt_protocol: str = Field("5", pattern="^(5|3\\.1\\.1)$", description="MQTT version for mqtt_url: 5 or 3.1.1 (the embedded amqtt broker always uses 3.1.1)")
    mqtt_session_expiry_s: int = Field(7 * 86400, ge=0, description="How long the broker keeps this worker's session and queued messages while it is away, seconds (MQTT 5)")
    mqtt_keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keep-alive interval, seconds")
    health_retention_days: int = Field(30, ge=1, le=3650, description="Camera health samples older than this are deleted, days")
    event_retention_days: int = Field(30, ge=1, le=3650, description="Events that ended longer ago than this are deleted with their media links, days")
    command_ttl_s: int = Field(60, gt=0, le=86400, description="Commands to agents expire this long after they are issued, seconds")
    secret_key: SecretStr = Field(SecretStr(_DEV_SECRET), description="Key for session cookies and CSRF tokens")
    default_language: str = Field("id", pattern="^(id|en)$", description="Language of pages and messages: id (Bahasa Indonesia) or en")
    heartbeat_timeout_s: float = Field(90.0, gt=0, description="A camera without status or stats for this long is shown offline, seconds")
    media_max_bytes: int = Field(64 * 1024 * 1024, gt=0, description="Largest accepted media upload, bytes")
    media_snapshot_max_age_days: float = Field(90.0, gt=0, description="Event snapshots (plain and annotated) older than this are deleted, days")
    media_clip_max_age_days: float = Field(30.0, gt=0, description="Event clips older than this are deleted, days")
    media_quota_bytes: int | None = Field(None, gt=0, description="Disk space for all event media; past it the oldest are deleted first, bytes (unset: no quota)")
    media_retention_interval_s: float = Field(3600.0, gt=0, description="Period of the event media retention run, seconds")
    map_tile_url: str = Field("", description="Tile URL template for the maps, e.g. https://tile.example/{z}/{x}/{y}.png; empty shows markers without tiles")
    map_tile_attribution: str = Field("", description="Attribution text the tile provider requires, shown on the map (HTML allowed, set by the administrator)")
    map_center_lat: float = Field(-5.1131, description="Map centre latitude (Kota Metro)")
    map_center_lon: float = Field(105.3067, description="Map centre longitude (Kota Metro)")
    conference: ConferenceSettings = Field(default_factory=ConferenceSettings, description="Jitsi/BBB settings, read from METRO_HUB_CONFERENCE_* variables")

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> HubSettings:
        if self.environment == "production" and self.secret_key.get_secret_value() == _DEV_SECRET:
            raise ValueError("METRO_HUB_SECRET_KEY is the development placeholder; set a random secret in production")
        self.conference.check_production(self.environment)
        return self

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'hub.db').resolve()}"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"
