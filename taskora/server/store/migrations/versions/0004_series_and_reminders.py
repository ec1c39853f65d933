"""Add recurring series, their successor links, reminder times and sent reminders.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
RECURRING_PREDICATE = (
    "status = 'completed' AND recurrence_rule IS NOT NULL AND NOT next_occurrence_done"
)
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Plain ALTER TABLE ADD COLUMN and a unique index, not a batch operation: on SQLite a
    # batch copies the table, which would drop the triggers that keep tasks_search in step.
    op.add_column("tasks", sa.Column("series_id", sa.BigInteger(), nullable=True))
    op.add_column("tasks", sa.Column("occurrence", sa.Integer(), nullable=True))
    op.add_column("tasks", sa.Column("series_start", Timestamp, nullable=True))
    # The task whose completion created this one. Unique, so a task has at most one next
    # occurrence whatever races between completions and checks.
    op.add_column("tasks", sa.Column("previous_id", sa.BigInteger(), nullable=True))
    op.add_column("tasks", sa.Column("remind_at", Timestamp, nullable=True))
    # Set once a completed recurring task has its next occurrence or its series ended, so
    # the recurrence check reads only the tasks that may still need one.
    op.add_column(
        "tasks",
        sa.Column("next_occurrence_done", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("uq_tasks_previous_id", "tasks", ["previous_id"], unique=True)
    op.create_index("ix_tasks_series_id_occurrence", "tasks", ["series_id", "occurrence"])
    op.create_index(
        "ix_tasks_recurring_completed",
        "tasks",
        ["user_id", "id"],
        postgresql_where=sa.text(RECURRING_PREDICATE),
        sqlite_where=sa.text(RECURRING_PREDICATE),
    )
    op.create_index(
        "ix_tasks_pending_remind_at",
        "tasks",
        ["remind_at"],
        postgresql_where=sa.text("status = 'pending' AND remind_at IS NOT NULL"),
        sqlite_where=sa.text("status = 'pending' AND remind_at IS NOT NULL"),
    )

    op.create_table(
        "reminders_sent",
        sa.Column("task_id", BigId, nullable=False),
        sa.Column("remind_at", Timestamp, nullable=False),
        sa.Column("sent_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("task_id", "remind_at", name="pk_reminders_sent"),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name="fk_reminders_sent_task_id_tasks", ondelete="CASCADE"
        ),
    )

    # Existing recurring tasks start their own series.
    op.execute(
        "UPDATE tasks SET series_id = id, occurrence = 1, series_start = due_at "
        "WHERE recurrence_rule IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_table("reminders_sent")
    op.drop_index("ix_tasks_pending_remind_at", "tasks")
    op.drop_index("ix_tasks_recurring_completed", "tasks")
    op.drop_index("ix_tasks_series_id_occurrence", "tasks")
    op.drop_index("uq_tasks_previous_id", "tasks")
    for column in (
        "next_occurrence_done",
        "remind_at",
        "previous_id",
        "series_start",
        "occurrence",
        "series_id",
    ):
        op.drop_column("tasks", column)
