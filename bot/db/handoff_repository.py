"""SQL side of the handoff: the analytics event log, console accounts, offline tickets, the staff access log."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, TypedDict

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.contact import mask_contact
from bot.db.models import AgentAccount, Conversation, HandoffEvent, OfflineTicket, StaffAccess
from bot.db.repository import Spool, handoff_event_op, insert_handoff_event, utcnow

log = logging.getLogger(__name__)

EVENT_TYPES = (
    "requested", "queued", "claimed", "agent_message", "returned", "resolved", "abandoned", "offline_ticket", "note",
)
ROLES = ("agent", "analyst", "admin")


class EventRow(TypedDict):
    """One stored handoff step."""

    id: int
    conversation_id: str
    type: str
    time: Optional[str]
    agent: Optional[str]
    reason: Optional[str]
    data: Optional[Dict[str, Any]]


class AccountRow(TypedDict):
    """One console account (``agent_accounts``), password hash included: never send it to a client."""

    id: int
    username: str
    display_name: str
    password_hash: str
    role: str
    active: bool
    created_at: datetime


class TicketRow(TypedDict):
    """One offline message as the console lists it (``contact`` masked: ``HandoffRepository.ticket_contact``)."""

    id: int
    conversation_id: str
    created_at: Optional[str]
    message: str
    contact_method: str
    contact: Optional[str]
    language: Optional[str]
    reply_by: Optional[str]
    status: str
    closed_by: Optional[str]
    closed_at: Optional[str]


def _iso(value: Optional[datetime]) -> Optional[str]:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat()


class AccountExists(ValueError):
    """A console account with that username exists already."""


def _account(row: Any) -> AccountRow:
    return {"id": row["id"], "username": row["username"], "display_name": row["display_name"],
            "password_hash": row["password_hash"], "role": row["role"], "active": row["active"],
            "created_at": row["created_at"]}


class AccessRow(TypedDict):
    """One line of the staff access log."""

    id: int
    time: Optional[str]
    username: str
    role: str
    action: str
    conversation_id: Optional[str]
    ticket_id: Optional[int]
    route: str
    reason: Optional[str]


class HandoffRepository:
    """The handoff's SQL tables: event log, accounts, offline tickets, routes, the staff access log.

    ``contact_cipher`` encrypts the tickets' contacts; without it tickets with a contact cannot be
    written or revealed (the accounts tool needs none).
    """

    def __init__(self, engine: AsyncEngine, contact_cipher: Optional[Fernet] = None) -> None:
        self._engine = engine
        self._cipher = contact_cipher
        self._spool: Optional[Spool] = None

    def attach(self, spool: Spool) -> None:
        """Send later steps through ``spool`` (the durable writer), so an outage loses none."""
        self._spool = spool

    def _fernet(self) -> Fernet:
        if self._cipher is None:
            raise RuntimeError("this repository has no contact cipher")
        return self._cipher

    def _open(self, row: Any) -> Optional[str]:
        """A ticket row's contact in clear (None when there is none or it cannot be decrypted)."""
        value: Optional[str] = row["contact"]
        if not value or not row["contact_sealed"]:
            return value
        try:
            clear: bytes = self._fernet().decrypt(value.encode("ascii"))
        except InvalidToken:
            log.error("ticket %s: the contact does not decrypt with this CONTACT_KEY", row["id"])
            return None
        return clear.decode("utf-8")

    # ------------------------------------------------------------------ events
    async def add_event(
        self, conversation_id: str, event_type: str, agent: Optional[str] = None, reason: Optional[str] = None,
        data: Optional[Dict[str, Any]] = None,
    ) -> None:
        """Append one step (``event_type`` one of ``EVENT_TYPES``) to ``handoff_events``."""
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown handoff event {event_type!r}")
        op = handoff_event_op(conversation_id, event_type, agent, reason, data)
        if self._spool is not None:
            await self._spool.write(op)
            return
        async with self._engine.begin() as conn:
            await insert_handoff_event(conn, op)

    async def events(self, conversation_id: Optional[str] = None, event_type: Optional[str] = None) -> List[EventRow]:
        """Stored steps, oldest first, of one conversation and/or one type (all when neither is given)."""
        table = HandoffEvent.__table__
        stmt = select(table).order_by(table.c.created_at, table.c.id)
        if conversation_id is not None:
            stmt = stmt.where(table.c.conversation_id == conversation_id)
        if event_type is not None:
            stmt = stmt.where(table.c.event_type == event_type)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [
            {"id": r["id"], "conversation_id": r["conversation_id"], "type": r["event_type"],
             "time": _iso(r["created_at"]), "agent": r["agent"], "reason": r["reason"], "data": r["data"]}
            for r in rows
        ]

    async def counts(self) -> Dict[str, int]:
        """How many steps of each type are stored."""
        table = HandoffEvent.__table__
        stmt = select(table.c.event_type, func.count()).group_by(table.c.event_type)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return {name: int(count) for name, count in rows}

    async def set_route(self, conversation_id: str, route: str) -> None:
        """Record who answers the conversation ("bot" or "agent") on its ``conversations`` row."""
        table = Conversation.__table__
        async with self._engine.begin() as conn:
            await conn.execute(update(table).where(table.c.id == conversation_id).values(route=route))

    # ------------------------------------------------------------------ accounts
    async def create_account(
        self, username: str, password_hash: str, role: str, display_name: Optional[str] = None
    ) -> None:
        """Add an active console account; ``AccountExists`` when the username is taken."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    AgentAccount.__table__.insert().values(
                        username=username, display_name=display_name or username, password_hash=password_hash,
                        role=role, active=True, created_at=utcnow(),
                    )
                )
        except IntegrityError:
            raise AccountExists(username) from None

    async def account(self, username: str) -> Optional[AccountRow]:
        """The account named ``username``, or None."""
        table = AgentAccount.__table__
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(table).where(table.c.username == username))).mappings().first()
        return _account(row) if row else None

    async def display_name(self, username: str) -> Optional[str]:
        """The name taxpayers see for the officer ``username`` (None when there is no such account)."""
        table = AgentAccount.__table__
        async with self._engine.connect() as conn:
            name = (await conn.execute(select(table.c.display_name).where(table.c.username == username))).scalar()
        return str(name) if name else None

    async def accounts(self) -> List[AccountRow]:
        """Every account, by username."""
        table = AgentAccount.__table__
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(table).order_by(table.c.username))).mappings().all()
        return [_account(r) for r in rows]

    async def update_account(self, username: str, **values: Any) -> bool:
        """Change columns of an account (password_hash, active, ...); False when there is no such account."""
        table = AgentAccount.__table__
        async with self._engine.begin() as conn:
            result = await conn.execute(update(table).where(table.c.username == username).values(**values))
        return bool(result.rowcount)

    # ------------------------------------------------------------------ offline tickets
    async def add_ticket(
        self, conversation_id: str, message: str, contact_method: str, contact: Optional[str], language: str,
        reply_by: datetime,
    ) -> int:
        """Store an open offline message; returns its id."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                OfflineTicket.__table__.insert().values(
                    conversation_id=conversation_id, created_at=utcnow(), message=message,
                    contact_method=contact_method, language=language, reply_by=reply_by, status="open",
                    contact=self._fernet().encrypt(contact.encode("utf-8")).decode("ascii") if contact else None,
                    contact_sealed=True,
                )
            )
            return int(result.inserted_primary_key[0])

    async def tickets(
        self, status: Optional[str] = "open", after: int = 0, limit: Optional[int] = None
    ) -> List[TicketRow]:
        """Offline messages with ``status`` (all when None) above id ``after``, oldest first, ``limit`` at most."""
        table = OfflineTicket.__table__
        stmt = select(table).where(table.c.id > after).order_by(table.c.id)
        if status:
            stmt = stmt.where(table.c.status == status)
        if limit is not None:
            stmt = stmt.limit(limit)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [
            {"id": r["id"], "conversation_id": r["conversation_id"], "created_at": _iso(r["created_at"]),
             "message": r["message"], "contact_method": r["contact_method"], "contact": mask_contact(self._open(r)),
             "language": r["language"], "reply_by": _iso(r["reply_by"]), "status": r["status"],
             "closed_by": r["closed_by"], "closed_at": _iso(r["closed_at"])}
            for r in rows
        ]

    async def close_ticket(self, ticket_id: int, agent: str) -> bool:
        """Mark an open offline message closed by ``agent``; False when it is not open."""
        table = OfflineTicket.__table__
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(table).where(table.c.id == ticket_id, table.c.status == "open")
                .values(status="closed", closed_by=agent, closed_at=utcnow())
            )
        return bool(result.rowcount)

    async def ticket_contact(self, ticket_id: int) -> Optional[Dict[str, Any]]:
        """A ticket's conversation id and contact in clear (None when there is no such ticket)."""
        table = OfflineTicket.__table__
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(table).where(table.c.id == ticket_id))).mappings().first()
        if row is None:
            return None
        return {"ticket_id": row["id"], "conversation_id": row["conversation_id"],
                "contact_method": row["contact_method"], "contact": self._open(row)}

    async def seal_legacy_contacts(self) -> int:
        """Encrypt the contacts stored in clear before migration 0007; how many (0 when the database is down)."""
        table = OfflineTicket.__table__
        fernet = self._fernet()
        try:
            async with self._engine.begin() as conn:
                rows = (await conn.execute(
                    select(table.c.id, table.c.contact).where(table.c.contact_sealed.is_(False))
                )).all()
                for ticket_id, contact in rows:
                    sealed = fernet.encrypt(contact.encode("utf-8")).decode("ascii") if contact else None
                    await conn.execute(update(table).where(table.c.id == ticket_id)
                                       .values(contact=sealed, contact_sealed=True))
        except (SQLAlchemyError, OSError):
            log.warning("could not encrypt the legacy ticket contacts now; they stay in clear until the next start")
            return 0
        return len(rows)

    # ------------------------------------------------------------------ staff access log
    async def record_access(
        self, username: str, role: str, action: str, route: str, conversation_id: Optional[str] = None,
        ticket_id: Optional[int] = None, reason: Optional[str] = None,
    ) -> None:
        """Log that ``username`` saw a transcript or a contact (``action``) through ``route``."""
        async with self._engine.begin() as conn:
            await conn.execute(
                StaffAccess.__table__.insert().values(
                    created_at=utcnow(), username=username, role=role, action=action, route=route[:200],
                    conversation_id=conversation_id, ticket_id=ticket_id, reason=reason[:200] if reason else None,
                )
            )

    async def access_log(
        self, conversation_id: Optional[str] = None, username: Optional[str] = None, limit: int = 500
    ) -> List[AccessRow]:
        """The newest ``limit`` access log lines, newest first, of one conversation and/or one user."""
        table = StaffAccess.__table__
        stmt = select(table).order_by(table.c.created_at.desc(), table.c.id.desc()).limit(limit)
        if conversation_id is not None:
            stmt = stmt.where(table.c.conversation_id == conversation_id)
        if username is not None:
            stmt = stmt.where(table.c.username == username)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [
            {"id": r["id"], "time": _iso(r["created_at"]), "username": r["username"], "role": r["role"],
             "action": r["action"], "conversation_id": r["conversation_id"], "ticket_id": r["ticket_id"],
             "route": r["route"], "reason": r["reason"]}
            for r in rows
        ]
