"""Reads and writes transcripts through an async SQLAlchemy engine."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Sequence

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.models import Conversation, Message


def utcnow() -> datetime:
    """The current time in UTC."""
    return datetime.now(timezone.utc)


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


class TranscriptRepository:
    """Conversation and message persistence."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        dialect = engine.dialect.name
        self._insert = postgresql.insert if dialect == "postgresql" else sqlite.insert

    async def ping(self) -> None:
        """Raise if the database cannot run a trivial query."""
        async with self._engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def add(self, entries: Sequence[TranscriptEntry]) -> None:
        """Store messages, creating their conversations on first sight."""
        if not entries:
            return
        first = entries[0]
        async with self._engine.begin() as conn:
            for conv_id in dict.fromkeys(e.conversation_id for e in entries):
                stmt = self._insert(Conversation.__table__).values(
                    id=conv_id, channel=first.channel, route="bot", created_at=first.created_at
                ).on_conflict_do_nothing(index_elements=["id"])
                await conn.execute(stmt)
            await conn.execute(
                Message.__table__.insert(),
                [
                    {
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
