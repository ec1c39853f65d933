"""Add time zones, recurrence, reminders, idempotency keys and the indexes of the task queries.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)

# The text that `q` searches; the same expression must appear in the query for PostgreSQL
# to use the GIN index.
SEARCH_DOCUMENT = "to_tsvector('simple', title || ' ' || description)"

SQLITE_SEARCH_TRIGGERS = (
    """
    CREATE TRIGGER tasks_search_insert AFTER INSERT ON tasks BEGIN
        INSERT INTO tasks_search (rowid, title, description)
        VALUES (new.id, new.title, new.description);
    END
    """,
    """
    CREATE TRIGGER tasks_search_delete AFTER DELETE ON tasks BEGIN
        INSERT INTO tasks_search (tasks_search, rowid, title, description)
        VALUES ('delete', old.id, old.title, old.description);
    END
    """,
    """
    CREATE TRIGGER tasks_search_update AFTER UPDATE OF title, description ON tasks BEGIN
        INSERT INTO tasks_search (tasks_search, rowid, title, description)
        VALUES ('delete', old.id, old.title, old.description);
        INSERT INTO tasks_search (rowid, title, description)
        VALUES (new.id, new.title, new.description);
    END
    """,
)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"))
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"))
        batch.add_column(sa.Column("recurrence_rule", sa.String(500), nullable=True))
        batch.add_column(sa.Column("recurrence_anchor", sa.String(16), nullable=True))
        batch.add_column(sa.Column("remind_before", sa.String(64), nullable=True))

    op.create_index("ix_tasks_user_id_updated_at", "tasks", ["user_id", "updated_at", "id"])
    op.create_index("ix_tasks_user_id_title", "tasks", ["user_id", sa.text("lower(title)"), "id"])
    op.create_index(
        "ix_tasks_user_id_status_due_at", "tasks", ["user_id", "status", "due_at", "id"]
    )

    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.SmallInteger(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "key", name="pk_idempotency_keys"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_idempotency_keys_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])

    # Keys shared by every replica of the service, made once per database.
    service_keys = op.create_table(
        "service_keys",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_service_keys"),
    )
    op.bulk_insert(service_keys, [{"name": "cursor", "value": secrets.token_hex(32)}])

    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE INDEX ix_tasks_search ON tasks USING gin ({SEARCH_DOCUMENT})")
        return

    # SQLite: an external-content FTS5 table kept in step with tasks by triggers.
    op.execute(
        "CREATE VIRTUAL TABLE tasks_search USING fts5("
        "title, description, content='tasks', content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 2')"
    )
    for trigger in SQLITE_SEARCH_TRIGGERS:
        op.execute(trigger)
    op.execute("INSERT INTO tasks_search (tasks_search) VALUES ('rebuild')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_tasks_search")
    else:
        for name in ("tasks_search_insert", "tasks_search_delete", "tasks_search_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS tasks_search")

    op.drop_table("service_keys")
    op.drop_table("idempotency_keys")
    op.drop_index("ix_tasks_user_id_status_due_at", "tasks")
    op.drop_index("ix_tasks_user_id_title", "tasks")
    op.drop_index("ix_tasks_user_id_updated_at", "tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("remind_before")
        batch.drop_column("recurrence_anchor")
        batch.drop_column("recurrence_rule")
        batch.drop_column("timezone")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("timezone")
