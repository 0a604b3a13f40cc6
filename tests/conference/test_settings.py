"""Conference settings: secrets from files, placeholders rejected in production."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.conference.settings import PLACEHOLDER_SECRET, ConferenceSettings
from hub.settings import HubSettings

HUB_SECRET = "hub-secret-" + "x" * 32


def test_secret_read_from_file(tmp_path: Path) -> None:
    path = tmp_path / "jitsi.secret"
    path.write_text("from-a-file-0123456789abcdef0123456789\n")
    settings = ConferenceSettings(jitsi_app_secret_file=path)
    assert settings.jitsi_app_secret.get_secret_value() == "from-a-file-0123456789abcdef0123456789"
    assert "from-a-file" not in repr(settings)


def test_missing_secret_file_names_path(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot read METRO_HUB_CONFERENCE_BBB_SECRET_FILE"):
        ConferenceSettings(bbb_secret_file=tmp_path / "absent")


def test_production_rejects_placeholder() -> None:
    with pytest.raises(ValidationError, match="JITSI_APP_SECRET is the development placeholder"):
        HubSettings(environment="production", secret_key=HUB_SECRET)  # type: ignore[arg-type]


def test_production_rejects_short_jitsi_key() -> None:
    conference = ConferenceSettings(jitsi_app_secret="short")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="shorter than 32"):
        HubSettings(environment="production", secret_key=HUB_SECRET, conference=conference)  # type: ignore[arg-type]


def test_production_blocks_unconfigured_second_backend() -> None:
    conference = ConferenceSettings(jitsi_app_secret="k" * 40)  # type: ignore[arg-type]
    settings = HubSettings(environment="production", secret_key=HUB_SECRET, conference=conference)  # type: ignore[arg-type]
    assert settings.conference.backend_usable("jitsi")
    assert not settings.conference.backend_usable("bbb")
    assert settings.conference.bbb_secret.get_secret_value() == PLACEHOLDER_SECRET


def test_development_allows_placeholder() -> None:
    assert ConferenceSettings().backend_usable("bbb")


@pytest.mark.parametrize("url", ["meet.example", "ftp://meet.example", ""])
def test_base_url_needs_scheme(url: str) -> None:
    with pytest.raises(ValidationError, match="must start with https://"):
        ConferenceSettings(jitsi_base_url=url)
