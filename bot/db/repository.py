"""Reads and writes transcripts through an async SQLAlchemy engine.

Each entry carries a client-generated ``entry_id`` (unique in ``messages``), so a write replayed after
an outage or a timed-out commit is skipped instead of stored twice. With a durable writer attached
(``TranscriptRepository.attach``), entries the database cannot take now wait in its spool.
"""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, List, Literal, Optional, Protocol, Sequence, TypedDict, Union

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.db.models import Conversation, HandoffEvent, Message
from bot.db.statements import insert_on_conflict


def utcnow() -> datetime:
    """The current time in UTC."""
    return datetime.now(timezone.utc)


def new_entry_id() -> str:
    """A fresh idempotency id for a transcript entry."""
    return uuid.uuid4().hex


#: At most this many replies to one taxpayer message are found again (``TranscriptRepository.replies_to``).
MAX_REPLIES = 32


def message_entry_id(conversation_id: str, message_id: str, index: int = 0) -> str:
    """The entry id of a client-identified message (``index`` 0) and of the replies to it (1, 2, ...).

    The same client message id always gives the same entry ids, on any gateway, so a retried message
    is found (``replies_to``) and never stored twice.
    """
    return hashlib.sha256(f"{conversation_id}\0{message_id}\0{index}".encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class TranscriptEntry:
    """A message to store; texts must already be masked."""

    conversation_id: str
    sender_type: str
    channel: str
    text: Optional[str]
    kind: Optional[str] = None
    article_id: Optional[str] = None
    confidence: Optional[float] = None
    payload: Optional[Dict[str, Any]] = None
    created_at: datetime = field(default_factory=utcnow)
    language: Optional[str] = None
    entry_id: str = field(default_factory=new_entry_id)

    def record(self) -> EntryRecord:
        """The entry as JSON (how a durable writer keeps it)."""
        return EntryRecord(
            entry_id=self.entry_id, conversation_id=self.conversation_id, sender_type=self.sender_type,
            channel=self.channel, text=self.text, kind=self.kind, article_id=self.article_id,
            confidence=self.confidence, payload=self.payload, created_at=self.created_at.isoformat(),
            language=self.language,
        )

    @classmethod
    def from_record(cls, item: EntryRecord) -> TranscriptEntry:
        """The entry ``record`` returned."""
        created = datetime.fromisoformat(item["created_at"])
        if created.tzinfo is None:
            created = created.replace(tzinfo=timezone.utc)
        return cls(
            conversation_id=item["conversation_id"], sender_type=item["sender_type"], channel=item["channel"],
            text=item.get("text"), kind=item.get("kind"), article_id=item.get("article_id"),
            confidence=item.get("confidence"), payload=item.get("payload"), created_at=created,
            language=item.get("language"), entry_id=item["entry_id"],
        )


class EntryRecord(TypedDict):
    """A transcript entry as JSON (``TranscriptEntry.record``); texts already masked."""

    entry_id: str
    conversation_id: str
    sender_type: str
    channel: str
    text: Optional[str]
    kind: Optional[str]
    article_id: Optional[str]
    confidence: Optional[float]
    payload: Optional[Dict[str, Any]]
    created_at: str  # ISO 8601
    language: Optional[str]


class TranscriptOp(TypedDict):
    """Transcript entries as one durable write (applied by ``insert_entries``)."""

    op: Literal["transcript"]
    entries: List[EntryRecord]


def transcript_op(entries: Sequence[TranscriptEntry]) -> TranscriptOp:
    """The durable write that stores ``entries``."""
    return TranscriptOp(op="transcript", entries=[e.record() for e in entries])


class HandoffEventOp(TypedDict):
    """One handoff step (``handoff_events``) as a durable write (applied by ``insert_handoff_event``)."""

    op: Literal["handoff_event"]
    event_id: str
    conversation_id: str
    event_type: str
    at: str  # ISO 8601
    agent: Optional[str]
    reason: Optional[str]
    data: Optional[Dict[str, Any]]


def handoff_event_op(
    conversation_id: str, event_type: str, agent: Optional[str] = None, reason: Optional[str] = None,
    data: Optional[Dict[str, Any]] = None,
) -> HandoffEventOp:
    """The durable write that stores one handoff step, with a fresh ``event_id``."""
    return HandoffEventOp(op="handoff_event", event_id=new_entry_id(), conversation_id=conversation_id,
                          event_type=event_type, at=utcnow().isoformat(), agent=agent, reason=reason, data=data)


async def insert_handoff_event(conn: AsyncConnection, op: HandoffEventOp) -> None:
    """Insert one handoff step; a step already stored (same ``event_id``) is skipped."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    at = datetime.fromisoformat(op["at"])
    await conn.execute(insert(HandoffEvent.__table__).values(
        event_id=op["event_id"], conversation_id=op["conversation_id"], event_type=op["event_type"],
        created_at=at if at.tzinfo else at.replace(tzinfo=timezone.utc), agent=op.get("agent"),
        reason=op.get("reason"), data=op.get("data"),
    ).on_conflict_do_nothing(index_elements=["event_id"]))


class Spool(Protocol):
    """Where attached writes go: stored now, or kept and retried (``bot.analytics.store.DurableWriter``)."""

    async def write(self, op: Union[TranscriptOp, HandoffEventOp]) -> str:
        """Store ``op`` now or keep it for a retry; raise only when it cannot be kept."""
        ...


#: The statements of ``insert_entries`` (compiled once: ``bot.db.statements``).
INSERT_CONVERSATION = insert_on_conflict(Conversation.__table__, ("id", "channel", "route", "created_at"), "id")
INSERT_MESSAGE = insert_on_conflict(
    Message.__table__,
    ("entry_id", "conversation_id", "created_at", "sender_type", "channel", "text", "kind", "article_id",
     "confidence", "payload", "language"),
    "entry_id",
)


async def insert_entries(conn: AsyncConnection, entries: Sequence[TranscriptEntry]) -> None:
    """Insert messages (and their conversations on first sight); entries already stored are skipped."""
    if not entries:
        return
    firsts: Dict[str, TranscriptEntry] = {}
    for entry in entries:  # a group commit mixes conversations: each is created from its own first entry
        firsts.setdefault(entry.conversation_id, entry)
    await conn.execute(INSERT_CONVERSATION, [
        {"id": conv_id, "channel": first.channel, "route": "bot", "created_at": first.created_at}
        for conv_id, first in firsts.items()
    ])
    await conn.execute(
        INSERT_MESSAGE,
        [
            {
                "entry_id": e.entry_id,
                "conversation_id": e.conversation_id,
                "created_at": e.created_at,
                "sender_type": e.sender_type,
                "channel": e.channel,
                "text": e.text,
                "kind": e.kind,
                "article_id": e.article_id,
                "confidence": e.confidence,
                "payload": e.payload,
                "language": e.language,
            }
            for e in entries
        ],
    )


class TranscriptRepository:
    """Conversation and message persistence."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._spool: Optional[Spool] = None

    def attach(self, spool: Spool) -> None:
        """Send later writes through ``spool`` (the durable writer), so an outage loses no entry."""
        self._spool = spool

    async def ping(self) -> None:
        """Raise if the database cannot run a trivial query."""
        async with self._engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def add(self, entries: Sequence[TranscriptEntry]) -> None:
        """Store messages, creating their conversations on first sight.

        With a spool attached the messages are stored now or kept there and written later (exactly
        once); without one a database failure raises.
        """
        if not entries:
            return
        if self._spool is not None:
            await self._spool.write(transcript_op(entries))
            return
        await self.insert(entries)

    async def insert(self, entries: Sequence[TranscriptEntry]) -> None:
        """Store messages now, in one transaction (no spool); entries already stored are skipped."""
        async with self._engine.begin() as conn:
            await insert_entries(conn, entries)

    async def history(self, conversation_id: str, limit: int = 500) -> List[Dict[str, Any]]:
        """The conversation's last ``limit`` messages, oldest first."""
        table = Message.__table__
        stmt = (
            select(table)
            .where(table.c.conversation_id == conversation_id)
            .order_by(table.c.created_at.desc(), table.c.id.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [_row(row) for row in reversed(rows)]

    async def replies_to(self, conversation_id: str, message_id: str) -> Optional[List[Dict[str, Any]]]:
        """The stored replies to the taxpayer message a client identified as ``message_id``, in order.

        None when that message is not stored (never received, or its turn did not finish); each reply is
        a row of ``messages`` (``text``, ``payload``) as the gateway stored it.
        """
        table = Message.__table__
        ids = [message_entry_id(conversation_id, message_id, i) for i in range(MAX_REPLIES + 1)]
        stmt = (
            select(table.c.entry_id, table.c.text, table.c.payload)
            .where(table.c.conversation_id == conversation_id, table.c.entry_id.in_(ids))
        )
        async with self._engine.connect() as conn:
            rows = {row["entry_id"]: row for row in (await conn.execute(stmt)).mappings().all()}
        if ids[0] not in rows:
            return None
        return [dict(rows[i]) for i in ids[1:] if i in rows]

    async def since(
        self, conversation_id: str, after_id: int, sender_types: Sequence[str], limit: int = 200
    ) -> List[Dict[str, Any]]:
        """Messages after the cursor ``after_id`` from ``sender_types``, oldest first (REST clients poll these)."""
        table = Message.__table__
        stmt = (
            select(table)
            .where(table.c.conversation_id == conversation_id, table.c.id > after_id,
                   table.c.sender_type.in_(list(sender_types)))
            .order_by(table.c.id)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [_row(row) for row in rows]


def _row(row: Any) -> Dict[str, Any]:
    """One stored message in the shape clients read (see openapi.yaml, Message)."""
    created = row["created_at"]
    if created is not None and created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    payload = row["payload"] if isinstance(row["payload"], dict) else {}
    return {
        "id": row["id"],
        "conversation_id": row["conversation_id"],
        "time": created.isoformat() if created else None,
        "sender": row["sender_type"],
        "sender_type": row["sender_type"],
        "channel": row["channel"],
        "text": row["text"],
        "kind": row["kind"],
        "article_id": row["article_id"],
        "confidence": row["confidence"],
        "buttons": payload.get("buttons"),
        "custom": payload.get("custom"),
    }
