"""Fixtures of the hub tests: throwaway databases and a migrated session factory."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from hub.db import Base, make_engine, make_session_factory
from hub.models import import_all_models

TEST_PASSWORD = "correct horse battery"


def create_throwaway_database(postgres_url: str) -> tuple[str, Callable[[], None]]:
    """Create an empty PostgreSQL database; return its URL and the function that drops it."""
    admin_url = make_url(postgres_url).set(database="postgres")
    name = f"metro_hub_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(postgres_url).set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture()
def throwaway_postgres(postgres_url: str) -> Iterator[str]:
    """Create an empty PostgreSQL database for one test and drop it afterwards."""
    url, drop = create_throwaway_database(postgres_url)
    try:
        yield url
    finally:
        drop()


@pytest.fixture()
def sqlite_url(tmp_path) -> str:  # type: ignore[no-untyped-def]
    return f"sqlite:///{tmp_path / 'hub.db'}"


@pytest.fixture()
def session_factory(sqlite_url: str) -> Iterator[sessionmaker[Session]]:
    """A fresh SQLite database built from the models (fast; migrations have their own test)."""
    import_all_models()
    engine = make_engine(sqlite_url)
    Base.metadata.create_all(engine)
    yield make_session_factory(engine)
    engine.dispose()


def make_test_settings(tmp_path, **overrides):  # type: ignore[no-untyped-def]
    from hub.settings import HubSettings

    values = {"data_dir": tmp_path, "database_url": f"sqlite:///{tmp_path / 'hub.db'}"}
    values.update(overrides)
    return HubSettings(**values)


@pytest.fixture()
def hub_app(tmp_path):  # type: ignore[no-untyped-def]
    """A migrated hub app on SQLite without broker or ingestion."""
    from hub.app import create_app
    from hub.migrate import upgrade

    settings = make_test_settings(tmp_path)
    upgrade(settings.resolved_database_url)
    app = create_app(settings, start_background=False)
    yield app
    app.state.engine.dispose()


def add_user(app, username: str, role: str, password: str = TEST_PASSWORD) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from hub.auth.users import create_user
    from hub.db import session_scope

    with session_scope(app.state.session_factory) as session:
        create_user(session, username, password, role, datetime.now(UTC))


def csrf_from(client, path: str = "/login") -> str:  # type: ignore[no-untyped-def]
    """Load a page and return the CSRF token from its meta tag."""
    import re

    page = client.get(path)
    match = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', page.text)
    assert match, "login page has no CSRF meta tag"
    return match.group(1)


def login(client, username: str, password: str = TEST_PASSWORD) -> str:  # type: ignore[no-untyped-def]
    """Log ``client`` in and return the CSRF token valid for the logged-in pages."""
    token = csrf_from(client)
    response = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return csrf_from(client, "/")
