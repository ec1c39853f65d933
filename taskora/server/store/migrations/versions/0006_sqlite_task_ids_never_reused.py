"""Never reuse a task id on SQLite.

SQLite gives a new row the largest rowid plus one, so deleting the newest task handed its
id to the next one: an ``If-Match`` retry of a DELETE could then remove an unrelated task,
and the event log named two tasks with one id. ``AUTOINCREMENT`` makes ids grow for good,
but SQLite cannot add it to a table, so the table is rebuilt. PostgreSQL sequences never
hand out an id twice, so nothing changes there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import logging
import re

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

logger = logging.getLogger("taskora.server.store.migrations")

ID_COLUMN = re.compile(r"\bid INTEGER NOT NULL,")
PRIMARY_KEY = re.compile(r"\s*CONSTRAINT pk_tasks PRIMARY KEY \(id\),")


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "sqlite":
        return
    table_sql = connection.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'tasks'"
    ).scalar_one()
    if "AUTOINCREMENT" in table_sql:
        return
    dependents = list(
        connection.exec_driver_sql(
            "SELECT type, name, sql FROM sqlite_master "
            "WHERE tbl_name = 'tasks' AND type IN ('index', 'trigger') AND sql IS NOT NULL"
        )
    )

    rebuilt_sql, replaced = ID_COLUMN.subn(
        "id INTEGER NOT NULL CONSTRAINT pk_tasks PRIMARY KEY AUTOINCREMENT,", table_sql, count=1
    )
    rebuilt_sql, removed = PRIMARY_KEY.subn("", rebuilt_sql, count=1)
    if replaced != 1 or removed != 1:
        raise RuntimeError(
            "the tasks table does not have the shape this migration expects; "
            f"its definition is: {table_sql}"
        )
    rebuilt_sql = rebuilt_sql.replace("CREATE TABLE tasks (", "CREATE TABLE tasks_rebuilt (", 1)

    # With foreign key enforcement off (see database.upgrade) and the legacy setting,
    # renaming a table leaves the foreign keys of task_tags and reminders_sent naming
    # "tasks", so they refer to the rebuilt table once it takes the name, and dropping the
    # old one cascades to nothing. SQLite documents this order for changing a table.
    connection.exec_driver_sql("PRAGMA legacy_alter_table = ON")
    try:
        for kind, name, _ in dependents:
            connection.exec_driver_sql(f"DROP {kind.upper()} {name}")
        connection.exec_driver_sql(rebuilt_sql)
        connection.exec_driver_sql("INSERT INTO tasks_rebuilt SELECT * FROM tasks")
        connection.exec_driver_sql("ALTER TABLE tasks RENAME TO tasks_replaced")
        connection.exec_driver_sql("DROP TABLE tasks_replaced")
        connection.exec_driver_sql("ALTER TABLE tasks_rebuilt RENAME TO tasks")
    finally:
        connection.exec_driver_sql("PRAGMA legacy_alter_table = OFF")
    for _, _, sql in dependents:
        connection.exec_driver_sql(sql)
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise RuntimeError(f"rebuilding the tasks table broke foreign keys: {broken[:5]}")

    # Ids of tasks deleted before this migration may still name tasks in the event log, so
    # the counter starts above them too.
    highest = connection.exec_driver_sql(
        "SELECT max(coalesce((SELECT max(id) FROM tasks), 0), "
        "coalesce((SELECT max(CAST(subject AS INTEGER)) FROM events), 0))"
    ).scalar_one()
    connection.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = 'tasks'")
    connection.exec_driver_sql(
        "INSERT INTO sqlite_sequence (name, seq) VALUES ('tasks', ?)", (highest,)
    )
    logger.info(
        "Rebuilt the tasks table so that task ids are never reused; the next one is %d",
        highest + 1,
    )


def downgrade() -> None:
    # Ids that are never reused do no harm to the earlier schema, so nothing is undone.
    pass
