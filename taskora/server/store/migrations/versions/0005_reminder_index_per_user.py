"""Index pending reminders by user, so a reminder check reads only its user's due ones.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

PENDING_REMINDER = "status = 'pending' AND remind_at IS NOT NULL"


def upgrade() -> None:
    op.drop_index("ix_tasks_pending_remind_at", "tasks")
    op.create_index(
        "ix_tasks_user_id_pending_remind_at",
        "tasks",
        ["user_id", "remind_at"],
        postgresql_where=sa.text(PENDING_REMINDER),
        sqlite_where=sa.text(PENDING_REMINDER),
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_user_id_pending_remind_at", "tasks")
    op.create_index(
        "ix_tasks_pending_remind_at",
        "tasks",
        ["remind_at"],
        postgresql_where=sa.text(PENDING_REMINDER),
        sqlite_where=sa.text(PENDING_REMINDER),
    )
