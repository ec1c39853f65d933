"""Give every event a stream position in the order the sequencer sees commits.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("position", sa.BigInteger(), nullable=True))
        batch.create_unique_constraint("uq_events_position", ["position"])
    op.create_index("ix_events_user_id_position", "events", ["user_id", "position"])
    op.create_index(
        "ix_events_unsequenced",
        "events",
        ["seq"],
        postgresql_where=sa.text("position IS NULL"),
        sqlite_where=sa.text("position IS NULL"),
    )
    op.create_index(
        "ix_events_unpublished",
        "events",
        ["position"],
        postgresql_where=sa.text("published_at IS NULL AND position IS NOT NULL"),
        sqlite_where=sa.text("published_at IS NULL AND position IS NOT NULL"),
    )
    op.drop_index("ix_events_published_at_seq", "events")
    op.drop_index("ix_events_user_id_seq", "events")

    op.create_table(
        "event_log_state",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("last_position", sa.BigInteger(), nullable=False),
        sa.Column("pruned_through", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_event_log_state"),
        sa.CheckConstraint("id = 1", name="ck_event_log_state_single_row"),
    )

    # Events written before this revision keep their order: positions follow seq.
    op.execute("UPDATE events SET position = seq")
    op.execute(
        "INSERT INTO event_log_state (id, last_position, pruned_through) "
        "SELECT 1, COALESCE(MAX(seq), 0), 0 FROM events"
    )


def downgrade() -> None:
    op.drop_table("event_log_state")
    op.create_index("ix_events_user_id_seq", "events", ["user_id", "seq"])
    op.create_index("ix_events_published_at_seq", "events", ["published_at", "seq"])
    op.drop_index("ix_events_unpublished", "events")
    op.drop_index("ix_events_unsequenced", "events")
    op.drop_index("ix_events_user_id_position", "events")
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint("uq_events_position", type_="unique")
        batch.drop_column("position")
