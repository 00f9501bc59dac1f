"""satisfaction logging: conversation_outcomes, conversation_ratings, answer_feedback, unanswered_questions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COVERED = ("channel", "language", "score", "survey_requested_at", "handoff_requested", "agent_joined", "unanswered",
           "topic_article_id")


def upgrade() -> None:
    op.create_table(
        "conversation_outcomes",
        sa.Column("conversation_id", sa.String(128), primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("language", sa.String(8), nullable=False, server_default="en"),
        sa.Column("taxpayer_messages", sa.Integer, nullable=False, server_default="0"),
        sa.Column("answers", sa.Integer, nullable=False, server_default="0"),
        sa.Column("unanswered", sa.Integer, nullable=False, server_default="0"),
        sa.Column("topic_article_id", sa.String(128), nullable=True),
        sa.Column("handoff_requested", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("agent_joined", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(32), nullable=True),
        sa.Column("survey_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("score", sa.SmallInteger, nullable=True),
    )
    # covering on PostgreSQL: the per-day figures and topics are index-only scans
    op.create_index("ix_outcomes_day", "conversation_outcomes", ["day"], postgresql_include=list(COVERED))
    op.create_index("ix_outcomes_low_started", "conversation_outcomes", ["started_at"],
                    postgresql_where=sa.text("score <= 2"), sqlite_where=sa.text("score <= 2"))
    op.create_index("ix_outcomes_channel_lang_day", "conversation_outcomes", ["channel", "language", "day"])
    op.create_index("ix_outcomes_topic_day", "conversation_outcomes", ["topic_article_id", "day"])
    op.create_index("ix_outcomes_idle", "conversation_outcomes", ["last_activity_at"])
    # the handed-off conversations only: joined with handoff_events for the waiting times
    op.create_index("ix_outcomes_handoff", "conversation_outcomes", ["conversation_id"],
                    postgresql_include=["day", "channel", "language"],
                    postgresql_where=sa.text("handoff_requested OR agent_joined"),
                    sqlite_where=sa.text("handoff_requested OR agent_joined"))
    op.create_table(
        "conversation_ratings",
        sa.Column("conversation_id", sa.String(128), primary_key=True),
        sa.Column("score", sa.SmallInteger, nullable=True),
        sa.Column("skipped", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("channel", sa.String(32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ratings_score", "conversation_ratings", ["score", "conversation_id"])
    op.create_table(
        "answer_feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(128), nullable=False),
        sa.Column("feedback_id", sa.String(64), nullable=False),
        sa.Column("article_id", sa.String(128), nullable=True),
        sa.Column("helpful", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ux_answer_feedback_answer", "answer_feedback", ["conversation_id", "feedback_id"], unique=True)
    op.create_index("ix_answer_feedback_article", "answer_feedback", ["article_id", "created_at"])
    op.create_index("ix_answer_feedback_created", "answer_feedback", ["created_at"])
    op.create_table(
        "unanswered_questions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("question", sa.Text, nullable=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
    )
    op.create_index("ix_unanswered_created", "unanswered_questions", ["created_at"])
    op.create_index("ix_unanswered_conversation", "unanswered_questions", ["conversation_id"])


def downgrade() -> None:
    op.drop_table("unanswered_questions")
    op.drop_table("answer_feedback")
    op.drop_table("conversation_ratings")
    op.drop_table("conversation_outcomes")
