"""Teleconference settings from ``METRO_HUB_CONFERENCE_*`` environment variables.

Secrets come from the variable itself or from a file named by the matching
``*_FILE`` variable (Docker and systemd credentials). Production refuses the
development placeholders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "dev-insecure-conference-secret"  # noqa: S105 - the placeholder that production rejects


def _read_secret_file(path: Path, variable: str) -> SecretStr:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"cannot read {variable} file {path}: {exc.strerror}; check the path and its permissions") from exc
    if not value:
        raise ValueError(f"{variable} file {path} is empty; write the secret into it")
    return SecretStr(value)


class ConferenceSettings(BaseSettings):
    """Jitsi Meet and BigBlueButton connection settings and link lifetimes."""

    model_config = SettingsConfigDict(env_prefix="METRO_HUB_CONFERENCE_", extra="forbid", env_file=None)

    default_backend: Literal["jitsi", "bbb"] = Field("jitsi", description="Backend for new conferences: jitsi or bbb")
    jitsi_base_url: str = Field("https://meet.example.invalid", description="Base URL of the Jitsi Meet web app, without the room")
    jitsi_app_id: str = Field("metro-command-center", min_length=1, description="JWT issuer (iss); Prosody's app_id")
    jitsi_app_secret: SecretStr = Field(SecretStr(PLACEHOLDER_SECRET), description="HS256 key shared with Prosody (app_secret)")
    jitsi_app_secret_file: Path | None = Field(None, description="File holding jitsi_app_secret; overrides the variable")
    jitsi_audience: str = Field("jitsi", min_length=1, description="JWT audience (aud) that Prosody accepts")
    jitsi_subject: str = Field("meet.example.invalid", min_length=1, description="JWT subject (sub): the Jitsi domain or tenant")
    token_lifetime_s: int = Field(900, ge=30, le=86400, description="Lifetime of one join token or join link, seconds")
    link_lifetime_s: int = Field(4 * 3600, ge=300, le=7 * 86400, description="How long a conference accepts joins after it starts, seconds; it ends afterwards")
    schedule_grace_s: int = Field(900, ge=0, le=86400, description="Joins to a scheduled meeting open this long before its start time, seconds")
    bbb_base_url: str = Field("https://bbb.example.invalid/bigbluebutton/api/", description="BigBlueButton API base URL ending in /api/")
    bbb_secret: SecretStr = Field(SecretStr(PLACEHOLDER_SECRET), description="BigBlueButton shared secret (bbb-conf --secret)")
    bbb_secret_file: Path | None = Field(None, description="File holding bbb_secret; overrides the variable")
    bbb_checksum_algorithm: Literal["sha256", "sha512"] = Field("sha256", description="Checksum hash for BBB API calls: sha256 or sha512")
    bbb_timeout_s: float = Field(10.0, gt=0, le=120, description="Timeout of one BBB API call, seconds")
    _production: bool = PrivateAttr(False)

    @field_validator("jitsi_base_url", "bbb_base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"invalid URL {value!r}: it must start with https:// (http:// only for local tests)")
        return value

    @model_validator(mode="after")
    def _load_secret_files(self) -> ConferenceSettings:
        if self.jitsi_app_secret_file is not None:
            self.jitsi_app_secret = _read_secret_file(self.jitsi_app_secret_file, "METRO_HUB_CONFERENCE_JITSI_APP_SECRET_FILE")
        if self.bbb_secret_file is not None:
            self.bbb_secret = _read_secret_file(self.bbb_secret_file, "METRO_HUB_CONFERENCE_BBB_SECRET_FILE")
        return self

    def backend_configured(self, backend: str) -> bool:
        """Return True when ``backend`` has a real secret (the placeholder counts as unconfigured)."""
        secret = self.jitsi_app_secret if backend == "jitsi" else self.bbb_secret
        return secret.get_secret_value() != PLACEHOLDER_SECRET

    def backend_usable(self, backend: str) -> bool:
        """Return True unless production would use ``backend`` with its placeholder secret."""
        return self.backend_configured(backend) or not self._production

    def check_production(self, environment: str) -> None:
        """Raise ValueError when production would run the default backend with a placeholder or short key.

        The other backend may stay unconfigured: the hub then rejects conferences on it.
        """
        if environment != "production":
            return
        self._production = True
        if not self.backend_configured(self.default_backend):
            name = "JITSI_APP_SECRET" if self.default_backend == "jitsi" else "BBB_SECRET"
            raise ValueError(f"METRO_HUB_CONFERENCE_{name} is the development placeholder; set the real secret in production")
        jitsi_secret = self.jitsi_app_secret.get_secret_value()
        if self.backend_configured("jitsi") and len(jitsi_secret) < 32:
            raise ValueError("METRO_HUB_CONFERENCE_JITSI_APP_SECRET is shorter than 32 characters; use a random key of 32 or more")
