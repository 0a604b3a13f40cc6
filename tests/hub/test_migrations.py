"""Migrating an empty database must yield exactly the tables of the models."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import UniqueConstraint, create_engine, inspect

from hub.db import Base
from hub.migrate import upgrade
from hub.models import import_all_models


def _model_schema() -> dict[str, dict[str, Any]]:
    import_all_models()
    schema: dict[str, dict[str, Any]] = {}
    for table in Base.metadata.sorted_tables:
        schema[table.name] = {
            "columns": {column.name: column.nullable for column in table.columns},
            "indexes": sorted(index.name for index in table.indexes if index.name),
            "unique": sorted(
                str(constraint.name) for constraint in table.constraints if isinstance(constraint, UniqueConstraint)
            ),
        }
    return schema


def _database_schema(url: str) -> dict[str, dict[str, Any]]:
    engine = create_engine(url)
    try:
        inspector = inspect(engine)
        schema: dict[str, dict[str, Any]] = {}
        for name in inspector.get_table_names():
            if name == "alembic_version":
                continue
            schema[name] = {
                "columns": {column["name"]: column["nullable"] for column in inspector.get_columns(name)},
                # PostgreSQL also lists the index behind each unique constraint; those are compared below.
                "indexes": sorted(
                    index["name"]
                    for index in inspector.get_indexes(name)
                    if index["name"] and "duplicates_constraint" not in index
                ),
                "unique": sorted(str(c["name"]) for c in inspector.get_unique_constraints(name)),
            }
        return schema
    finally:
        engine.dispose()


def _assert_same(url: str) -> None:
    upgrade(url)
    migrated = _database_schema(url)
    models = _model_schema()
    assert sorted(migrated) == sorted(models), "tables differ between migrations and models"
    for table, expected in models.items():
        assert migrated[table]["columns"] == expected["columns"], f"columns or nullability of {table} differ"
        assert migrated[table]["indexes"] == expected["indexes"], f"indexes of {table} differ"
        assert migrated[table]["unique"] == expected["unique"], f"unique constraints of {table} differ"


def test_migrations_match_models_sqlite(sqlite_url: str) -> None:
    _assert_same(sqlite_url)


def test_migrations_match_models_postgres(throwaway_postgres: str) -> None:
    _assert_same(throwaway_postgres)


def test_migration_twice_is_noop(sqlite_url: str) -> None:
    upgrade(sqlite_url)
    upgrade(sqlite_url)
    assert "events" in _database_schema(sqlite_url)


@pytest.mark.parametrize("table", ["cameras", "events", "users", "sessions", "commands", "camera_health_samples"])
def test_core_table_migrated(sqlite_url: str, table: str) -> None:
    upgrade(sqlite_url)
    assert table in _database_schema(sqlite_url)
