"""live-agent handoff: handoff_events, agent_accounts, offline_tickets

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handoff_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(128), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agent", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("data", sa.JSON, nullable=True),
    )
    op.create_index("ix_handoff_events_conversation", "handoff_events", ["conversation_id", "created_at"])
    op.create_index("ix_handoff_events_type_time", "handoff_events", ["event_type", "created_at"])
    op.create_table(
        "agent_accounts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "offline_tickets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("contact_method", sa.String(16), nullable=False),
        sa.Column("contact", sa.String(200), nullable=True),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("reply_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column("closed_by", sa.String(64), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_offline_tickets_status", "offline_tickets", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_offline_tickets_status", table_name="offline_tickets")
    op.drop_table("offline_tickets")
    op.drop_table("agent_accounts")
    op.drop_index("ix_handoff_events_type_time", table_name="handoff_events")
    op.drop_index("ix_handoff_events_conversation", table_name="handoff_events")
    op.drop_table("handoff_events")
