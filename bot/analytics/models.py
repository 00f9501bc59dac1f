"""Tables of satisfaction logging (alembic revision 0003_analytics), on the gateway's metadata."""
from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, DateTime, Index, Integer, SmallInteger, String, Table, Text, false, text

from bot.db.models import Base

metadata = Base.metadata

# One row per conversation, kept up to date on every turn (the dashboard's fact table).
conversation_outcomes = Table(
    "conversation_outcomes",
    metadata,
    Column("conversation_id", String(128), primary_key=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("day", Date, nullable=False),  # Beijing (UTC+8) date of started_at: the dashboard's period and trend key
    Column("last_activity_at", DateTime(timezone=True), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("language", String(8), nullable=False, server_default="en"),
    Column("taxpayer_messages", Integer, nullable=False, server_default="0"),
    Column("answers", Integer, nullable=False, server_default="0"),
    Column("unanswered", Integer, nullable=False, server_default="0"),
    Column("topic_article_id", String(128), nullable=True),  # the first article answered
    Column("handoff_requested", Boolean, nullable=False, server_default=false()),
    Column("agent_joined", Boolean, nullable=False, server_default=false()),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("end_reason", String(32), nullable=True),  # thanks | goodbye | agent_resolved | idle
    Column("survey_requested_at", DateTime(timezone=True), nullable=True),
    Column("score", SmallInteger, nullable=True),  # copy of conversation_ratings.score (no join for the figures)
    Index("ix_outcomes_day", "day", postgresql_include=["channel", "language", "score", "survey_requested_at",
                                                     "handoff_requested", "agent_joined", "unanswered",
                                                     "topic_article_id"]),
    Index("ix_outcomes_low_started", "started_at",
          postgresql_where=text("score <= 2"), sqlite_where=text("score <= 2")),
    Index("ix_outcomes_channel_lang_day", "channel", "language", "day"),
    Index("ix_outcomes_topic_day", "topic_article_id", "day"),
    Index("ix_outcomes_idle", "last_activity_at"),
    Index("ix_outcomes_handoff", "conversation_id", postgresql_include=["day", "channel", "language"],
          postgresql_where=text("handoff_requested OR agent_joined"),
          sqlite_where=text("handoff_requested OR agent_joined")),
)

# One rating per conversation; a second rating updates it (updated_at decides which write wins).
conversation_ratings = Table(
    "conversation_ratings",
    metadata,
    Column("conversation_id", String(128), primary_key=True),
    Column("score", SmallInteger, nullable=True),  # 1..5; NULL = skipped
    Column("skipped", Boolean, nullable=False, server_default=false()),
    Column("comment", Text, nullable=True),  # masked
    Column("channel", String(32), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_ratings_score", "score", "conversation_id"),
)

# Thumbs up/down on one bot answer (feedback_id is the gateway's id in the answer's custom payload).
answer_feedback = Table(
    "answer_feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(128), nullable=False),
    Column("feedback_id", String(64), nullable=False),
    Column("article_id", String(128), nullable=True),
    Column("helpful", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ux_answer_feedback_answer", "conversation_id", "feedback_id", unique=True),
    Index("ix_answer_feedback_article", "article_id", "created_at"),
    Index("ix_answer_feedback_created", "created_at"),
)

# Questions the bot did not answer: the taxpayer's (masked) text before an out_of_scope/fallback/clarify reply.
unanswered_questions = Table(
    "unanswered_questions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("question", Text, nullable=True),
    Column("channel", String(32), nullable=False),
    Column("language", String(8), nullable=False),
    Index("ix_unanswered_created", "created_at"),
    Index("ix_unanswered_conversation", "conversation_id"),
)
