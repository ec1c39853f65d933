"""Multi-row inserts that stay cheap at thousands of rows on both databases.

On PostgreSQL the rows travel as one array per column and are expanded with ``unnest``, so
the statement text is short and the same for any number of rows: psycopg parses it once
and the server plans it once. A multi-row ``VALUES`` list, as SQLAlchemy builds it, would
have tens of thousands of placeholders that psycopg parses again on every call. SQLite
gets that ``VALUES`` form, which it handles quickly in process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Row, Table
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

# Rows per statement on SQLite: well under its limit of bound parameters.
SQLITE_BATCH = 500


def bulk_insert(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    returning: Sequence[str] = (),
    skip_conflicts: bool = False,
) -> list[Row[Any]]:
    """Insert ``rows`` (all with the same keys) into ``table``.

    With ``skip_conflicts`` a row that breaks a unique constraint is left out instead of
    failing the statement, as ``ON CONFLICT DO NOTHING`` does. ``returning`` names the
    columns to return for each inserted row, so the caller learns which rows went in.
    """
    if not rows:
        return []
    keys = list(rows[0])
    if session.get_bind().dialect.name == "postgresql":
        return _insert_unnest(session, table, keys, rows, returning, skip_conflicts)
    inserted: list[Row[Any]] = []
    for start in range(0, len(rows), SQLITE_BATCH):
        statement = sqlite_insert(table)
        if skip_conflicts:
            statement = statement.on_conflict_do_nothing()
        batch = rows[start : start + SQLITE_BATCH]
        if returning:
            statement = statement.returning(*(table.c[name] for name in returning))
            inserted.extend(session.execute(statement, list(batch)))
        else:
            session.execute(statement, list(batch))
    return inserted


def _insert_unnest(
    session: Session,
    table: Table,
    keys: list[str],
    rows: Sequence[Mapping[str, Any]],
    returning: Sequence[str],
    skip_conflicts: bool,
) -> list[Row[Any]]:
    dialect = session.get_bind().dialect
    columns: list[Column[Any]] = [table.c[key] for key in keys]
    # %(name)b sends each array in psycopg's binary format, which needs no escaping of the
    # strings inside: the text format runs a regular expression over every element.
    arrays = ", ".join(
        f"%({column.key})b::{column.type.compile(dialect=dialect)}[]" for column in columns
    )
    quote = dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(column.name) for column in columns)}) "
        f"SELECT * FROM unnest({arrays})"
    )
    if skip_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += " RETURNING " + ", ".join(quote(name) for name in returning)
    parameters = {}
    for column in columns:
        processor = column.type.bind_processor(dialect)
        values = [row[column.key] for row in rows]
        parameters[column.key] = [processor(value) for value in values] if processor else values
    result = session.connection().exec_driver_sql(sql, parameters)
    return list(result) if returning else []
