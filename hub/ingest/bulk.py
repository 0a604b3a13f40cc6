"""Bulk ``INSERT ... ON CONFLICT`` of many rows in one statement, on PostgreSQL and SQLite.

On PostgreSQL all rows travel as one JSON parameter that
``json_populate_recordset`` turns into rows of the table's own type. The statement
text is short and the same for every batch, so it costs one round trip and psycopg
parses it once. A multi-row ``VALUES`` list has thousands of placeholders, and
psycopg parsed them again for every batch: a profile of the hub writer showed that
parsing took about half its time. SQLite runs in-process, so there the rows go
through SQLAlchemy's ``executemany``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session


def upsert_rows(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    update_columns: Sequence[str] = (),
    returning: str | None = None,
    constants: Mapping[str, Any] | None = None,
) -> list[Any]:
    """Insert ``rows``; on a primary-key conflict update ``update_columns``, or skip the row if none.

    A column missing from a row is stored as NULL. ``constants`` contains the columns
    whose value is the same for every row; they are sent once instead of per row.
    Returns the ``returning`` column of every inserted or updated row (skipped rows
    return nothing), or an empty list when ``returning`` is None.
    """
    if not rows:
        return []
    constants = constants or {}
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return _upsert_postgresql(session, table, rows, update_columns, returning, constants)
    if dialect == "sqlite":
        full = [{**dict.fromkeys(column.name for column in table.columns), **row, **constants} for row in rows]
        return _upsert_sqlite(session, table, full, update_columns, returning)
    raise NotImplementedError(f"bulk ingestion supports PostgreSQL and SQLite, not {dialect!r}")


def _conflict_clause(table: Table, update_columns: Sequence[str]) -> str:
    keys = ", ".join(column.name for column in table.primary_key.columns)
    if not update_columns:
        return f"ON CONFLICT ({keys}) DO NOTHING"
    assignments = ", ".join(f"{name} = EXCLUDED.{name}" for name in update_columns)
    return f"ON CONFLICT ({keys}) DO UPDATE SET {assignments}"


def _upsert_postgresql(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], update_columns: Sequence[str],
    returning: str | None, constants: Mapping[str, Any],
) -> list[Any]:
    dialect = session.get_bind().dialect
    columns = ", ".join(column.name for column in table.columns)
    # A constant column is one typed parameter; the rest come from the JSON rows.
    values = ", ".join(
        f"CAST(:const_{column.name} AS {column.type.compile(dialect=dialect)})" if column.name in constants
        else column.name
        for column in table.columns
    )
    source = f"json_populate_recordset(NULL::{table.name}, CAST(:rows AS json))"
    # Table and column names come from the table definition, never from message content.
    statement = f"INSERT INTO {table.name} ({columns}) SELECT {values} FROM {source} "  # noqa: S608
    statement += _conflict_clause(table, update_columns)
    if returning:
        statement += f" RETURNING {returning}"
    parameters = {f"const_{name}": value for name, value in constants.items()}
    parameters["rows"] = json.dumps(rows, default=_json_value)
    result = session.connection().execute(text(statement), parameters)
    return list(result.scalars()) if returning else []


def _json_value(value: object) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given; pass an aware UTC datetime")
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in a bulk row")


def _upsert_sqlite(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], update_columns: Sequence[str], returning: str | None
) -> list[Any]:
    statement = sqlite.insert(table)
    keys = list(table.primary_key.columns)
    if update_columns:
        statement = statement.on_conflict_do_update(
            index_elements=keys, set_={name: statement.excluded[name] for name in update_columns}
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=keys)
    if returning:
        return list(session.execute(statement.returning(table.c[returning]), list(rows)).scalars())
    session.execute(statement, list(rows))
    return []
