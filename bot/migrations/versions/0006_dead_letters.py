"""writes that failed permanently (dead letters); transcript lines and handoff steps get an idempotency id

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("tries", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_dead_letters_time", "dead_letters", ["created_at"])
    # a replayed transcript write (after an outage or a timeout) is skipped, not stored twice
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("entry_id", sa.String(32), nullable=True))
    op.create_index("ux_messages_entry_id", "messages", ["entry_id"], unique=True)
    with op.batch_alter_table("handoff_events") as batch:
        batch.add_column(sa.Column("event_id", sa.String(32), nullable=True))
    op.create_index("ux_handoff_events_event_id", "handoff_events", ["event_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_handoff_events_event_id", table_name="handoff_events")
    with op.batch_alter_table("handoff_events") as batch:
        batch.drop_column("event_id")
    op.drop_index("ux_messages_entry_id", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("entry_id")
    op.drop_index("ix_dead_letters_time", table_name="dead_letters")
    op.drop_table("dead_letters")
