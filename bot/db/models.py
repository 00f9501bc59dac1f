"""Tables of the transcript store."""
from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import declarative_base

Base = declarative_base()


class Conversation(Base):
    """One conversation between a taxpayer and TaxGuide (or an agent)."""

    __tablename__ = "conversations"

    id = Column(String(128), primary_key=True)
    channel = Column(String(32), nullable=False)
    route = Column(String(16), nullable=False, default="bot", server_default="bot")
    created_at = Column(DateTime(timezone=True), nullable=False)


class Message(Base):
    """One turn: a masked taxpayer, bot or agent message."""

    __tablename__ = "messages"

    id = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id = Column(
        String(128), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    created_at = Column(DateTime(timezone=True), nullable=False)
    sender_type = Column(String(16), nullable=False)  # taxpayer | bot | agent
    channel = Column(String(32), nullable=False)  # rest | socketio
    text = Column(Text, nullable=True)
    kind = Column(String(64), nullable=True)
    article_id = Column(String(128), nullable=True)
    confidence = Column(Float, nullable=True)
    payload = Column(JSON, nullable=True)  # buttons and custom data, masked

    __table_args__ = (Index("ix_messages_conversation_time", "conversation_id", "created_at", "id"),)
