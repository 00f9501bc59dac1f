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
    entry_id = Column(String(32), nullable=True)  # the gateway's id of the entry: a replayed write is skipped

    __table_args__ = (
        Index("ix_messages_conversation_time", "conversation_id", "created_at", "id"),
        Index("ux_messages_entry_id", "entry_id", unique=True),
    )


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
    event_id = Column(String(32), nullable=True)  # the gateway's id of the step: a replayed write is skipped

    __table_args__ = (
        Index("ix_handoff_events_conversation", "conversation_id", "created_at"),
        Index("ix_handoff_events_type_time", "event_type", "created_at"),
        Index("ux_handoff_events_event_id", "event_id", unique=True),
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
    contact = Column(Text, nullable=True)  # Fernet token of the phone/e-mail given to be called back
    contact_sealed = Column(Boolean, nullable=False, default=True, server_default=true())  # false: legacy clear text
    language = Column(String(8), nullable=True)
    reply_by = Column(DateTime(timezone=True), nullable=True)
    status = Column(String(16), nullable=False, default="open", server_default="open")
    closed_by = Column(String(64), nullable=True)
    closed_at = Column(DateTime(timezone=True), nullable=True)

    __table_args__ = (Index("ix_offline_tickets_status", "status", "created_at"),)


class ConsoleSession(Base):
    """A signed-in console session; the cookie holds the token, this row only its SHA-256 (issue 14)."""

    __tablename__ = "console_sessions"

    id = Column(String(64), primary_key=True)  # sha256 hex of the cookie's session token
    username = Column(String(64), nullable=False)
    display_name = Column(String(100), nullable=False)
    role = Column(String(16), nullable=False)
    csrf_token = Column(String(64), nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False)
    expires_at = Column(DateTime(timezone=True), nullable=False)

    __table_args__ = (
        Index("ix_console_sessions_username", "username"),
        Index("ix_console_sessions_expires", "expires_at"),
    )


class ConsoleLoginFailure(Base):
    """Wrong console passwords in a row, per client address and username (login throttling)."""

    __tablename__ = "console_login_failures"

    address = Column(String(64), primary_key=True)
    username = Column(String(64), primary_key=True)  # as typed, lower-cased: unknown names count too
    failures = Column(Integer, nullable=False)
    last_failure_at = Column(DateTime(timezone=True), nullable=False)

    __table_args__ = (
        Index("ix_console_login_failures_username", "username"),
        Index("ix_console_login_failures_last", "last_failure_at"),
    )


class StaffAccess(Base):
    """One look by console staff at a taxpayer's data: a transcript opened or a ticket's contact revealed."""

    __tablename__ = "staff_access"

    id = Column(Integer, primary_key=True, autoincrement=True)
    created_at = Column(DateTime(timezone=True), nullable=False)
    username = Column(String(64), nullable=False)
    role = Column(String(16), nullable=False)
    action = Column(String(32), nullable=False)  # transcript | contact
    conversation_id = Column(String(128), nullable=True)  # the derived reference, never a session token
    ticket_id = Column(Integer, nullable=True)
    route = Column(String(200), nullable=False)  # the endpoint that showed it
    reason = Column(String(200), nullable=True)  # the reason the user gave (``?reason=``), if any

    __table_args__ = (
        Index("ix_staff_access_time", "created_at", "id"),
        Index("ix_staff_access_conversation", "conversation_id", "created_at"),
    )


class DeadLetter(Base):
    """A durable write the database refused for good (bad data), kept for a person to look at."""

    __tablename__ = "dead_letters"

    id = Column(Integer, primary_key=True, autoincrement=True)
    kind = Column(String(32), nullable=False)  # the operation: rating, feedback, turn, end, transcript, handoff_event
    payload = Column(JSON, nullable=False)  # the operation as it was written (masked)
    error = Column(Text, nullable=False)  # the database's refusal
    tries = Column(Integer, nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False)

    __table_args__ = (Index("ix_dead_letters_time", "created_at"),)
