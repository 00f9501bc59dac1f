"""Tables of the transcript store."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, Column, DateTime, Float, ForeignKey, Index, Integer, String, Text, true
from sqlalchemy.orm import declarative_base

if TYPE_CHECKING:  # SQLAlchemy 1.4 has no type information (mypy skips it): the base as mypy sees it

    class Base:
        """The declarative base of every table."""

        __table__: Any
        metadata: Any

else:
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
    language = Column(String(8), nullable=True)  # zh | en (the taxpayer's language for this turn)

    __table_args__ = (Index("ix_messages_conversation_time", "conversation_id", "created_at", "id"),)


class HandoffEvent(Base):
    """One step of a live-agent handoff, kept for analytics.

    event_type: requested | queued | claimed | agent_message | returned | resolved | abandoned |
    offline_ticket | note
    """

    __tablename__ = "handoff_events"

    id = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id = Column(String(128), nullable=False)
    event_type = Column(String(32), nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False)
    agent = Column(String(64), nullable=True)
    reason = Column(String(32), nullable=True)
    data = Column(JSON, nullable=True)

    __table_args__ = (
        Index("ix_handoff_events_conversation", "conversation_id", "created_at"),
        Index("ix_handoff_events_type_time", "event_type", "created_at"),
    )


class AgentAccount(Base):
    """A console account (created with ``python -m bot.accounts create``); bcrypt password hash."""

    __tablename__ = "agent_accounts"

    id = Column(Integer, primary_key=True, autoincrement=True)
    username = Column(String(64), nullable=False, unique=True)
    display_name = Column(String(100), nullable=False)
    password_hash = Column(String(100), nullable=False)
    role = Column(String(16), nullable=False)  # agent | analyst | admin
    active = Column(Boolean, nullable=False, default=True, server_default=true())
    created_at = Column(DateTime(timezone=True), nullable=False)


class OfflineTicket(Base):
    """A message left outside service hours or when no officer was online."""

    __tablename__ = "offline_tickets"

    id = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id = Column(String(128), nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False)
    message = Column(Text, nullable=False)  # masked
    contact_method = Column(String(16), nullable=False)  # chat | phone | email
    contact = Column(String(200), nullable=True)  # given on purpose to be contacted; shown to agents only
    language = Column(String(8), nullable=True)
    reply_by = Column(DateTime(timezone=True), nullable=True)
    status = Column(String(16), nullable=False, default="open", server_default="open")
    closed_by = Column(String(64), nullable=True)
    closed_at = Column(DateTime(timezone=True), nullable=True)

    __table_args__ = (Index("ix_offline_tickets_status", "status", "created_at"),)
