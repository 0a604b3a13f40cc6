"""Fixtures of the hub tests: throwaway databases and a migrated session factory."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from hub.db import Base, make_engine, make_session_factory
from hub.models import import_all_models


@pytest.fixture()
def throwaway_postgres(postgres_url: str) -> Iterator[str]:
    """Create an empty PostgreSQL database for one test and drop it afterwards."""
    admin_url = make_url(postgres_url).set(database="postgres")
    name = f"metro_hub_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


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
