"""Fixtures of the conference tests: a migrated hub app wired to a fake BBB server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI

from hub.conference.settings import ConferenceSettings
from tests.conference.fake_bbb import FakeBbbServer
from tests.conftest import free_port
from tests.hub.conftest import (  # the fixtures are shared with the hub tests
    make_test_settings,
    session_factory,  # noqa: F401
    sqlite_url,  # noqa: F401
    throwaway_postgres,  # noqa: F401
)

JITSI_SECRET = "jitsi-test-secret-0123456789abcdef0123"
BBB_SECRET = "bbb-test-secret-0123456789"


@pytest.fixture()
def fake_bbb() -> Iterator[FakeBbbServer]:
    with FakeBbbServer(free_port(), BBB_SECRET) as server:
        yield server


@pytest.fixture()
def clock() -> list[datetime]:
    """The hub's clock for one test; assign clock[0] to move it."""
    return [datetime.now(UTC).replace(microsecond=0)]


@pytest.fixture(params=["sqlite"])
def conf_app(request: pytest.FixtureRequest, tmp_path: Any, fake_bbb: FakeBbbServer, clock: list[datetime]) -> Iterator[FastAPI]:
    """The hub on SQLite; tests marked with ``indirect`` parametrization also run it on PostgreSQL."""
    from hub.app import create_app
    from hub.deps import utc_now
    from hub.migrate import upgrade

    conference = ConferenceSettings(
        jitsi_base_url="https://meet.example.invalid",
        jitsi_app_secret=JITSI_SECRET,  # type: ignore[arg-type]
        bbb_base_url=fake_bbb.base_url,
        bbb_secret=BBB_SECRET,  # type: ignore[arg-type]
        token_lifetime_s=600,
        link_lifetime_s=3600,
        schedule_grace_s=600,
    )
    overrides: dict[str, Any] = {"conference": conference}
    if request.param == "postgres":
        overrides["database_url"] = request.getfixturevalue("throwaway_postgres")
    settings = make_test_settings(tmp_path, **overrides)
    upgrade(settings.resolved_database_url)
    app = create_app(settings, start_background=False)
    app.dependency_overrides[utc_now] = lambda: clock[0]
    yield app
    app.state.engine.dispose()
