"""Console sessions kept on the server; the cookie carries only an opaque random token.

One protocol (``SessionStore``), two backends like ``bot.handoff.store``: ``SqlSessionStore`` (the
``console_sessions`` table, the default) and ``RedisSessionStore`` (when REDIS_URL is set). Only the
token's SHA-256 is stored. Logout deletes its session; disabling an account or changing its role
(``python -m bot.accounts``, usually another process) deletes every session of the account
(``revoke_user``), and each open console websocket re-checks its session every ``REVALIDATE_SECONDS``.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Dict, Optional, Protocol, Union

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.models import ConsoleSession as SessionRow
from bot.db.repository import utcnow

if TYPE_CHECKING:
    from redis.asyncio import Redis

#: A session ends this long after sign-in at the latest (seconds).
SESSION_MAX_AGE = 8 * 3600
#: How often an open console websocket checks that its session still exists (seconds).
REVALIDATE_SECONDS = 1.0


@dataclass(frozen=True)
class ConsoleSession:
    """Who a session belongs to, as it was when they signed in."""

    username: str
    display_name: str
    role: str
    csrf_token: str
    expires_at: float  # UNIX time


def new_token() -> str:
    """A fresh opaque session token (256 random bits) for the cookie."""
    return secrets.token_urlsafe(32)


def token_id(token: str) -> str:
    """What the store keeps of ``token``: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(account_username: str, display_name: str, role: str,
                  max_age: float = SESSION_MAX_AGE) -> ConsoleSession:
    """A new session of an account with a new CSRF token, ending ``max_age`` seconds from now."""
    return ConsoleSession(account_username, display_name, role, secrets.token_urlsafe(32), time.time() + max_age)


class SessionStore(Protocol):
    """Where console sessions live: every gateway instance and the accounts command share it."""

    async def create(self, token: str, session: ConsoleSession) -> None:
        """Keep ``session`` under ``token`` until it expires."""
        ...

    async def get(self, token: str) -> Optional[ConsoleSession]:
        """The live session of ``token``, or None (unknown, ended or expired)."""
        ...

    async def delete(self, token: str) -> None:
        """End one session (logout)."""
        ...

    async def revoke_user(self, username: str) -> int:
        """End every session of ``username``; how many there were."""
        ...


def _ts(value: datetime) -> float:
    if value.tzinfo is None:  # SQLite returns naive UTC
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


class SqlSessionStore:
    """Sessions in the ``console_sessions`` table (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, token: str, session: ConsoleSession) -> None:
        """Keep ``session`` under ``token`` until it expires (expired rows are purged here)."""
        table = SessionRow.__table__
        now = utcnow()
        async with self._engine.begin() as conn:
            await conn.execute(delete(table).where(table.c.expires_at <= now))
            await conn.execute(table.insert().values(
                id=token_id(token), username=session.username, display_name=session.display_name,
                role=session.role, csrf_token=session.csrf_token, created_at=now,
                expires_at=datetime.fromtimestamp(session.expires_at, timezone.utc),
            ))

    async def get(self, token: str) -> Optional[ConsoleSession]:
        """The live session of ``token``, or None."""
        table = SessionRow.__table__
        stmt = select(table).where(table.c.id == token_id(token), table.c.expires_at > utcnow())
        async with self._engine.connect() as conn:
            row = (await conn.execute(stmt)).mappings().first()
        if row is None:
            return None
        return ConsoleSession(row["username"], row["display_name"], row["role"], row["csrf_token"],
                              _ts(row["expires_at"]))

    async def delete(self, token: str) -> None:
        """End one session."""
        table = SessionRow.__table__
        async with self._engine.begin() as conn:
            await conn.execute(delete(table).where(table.c.id == token_id(token)))

    async def revoke_user(self, username: str) -> int:
        """End every session of ``username``."""
        table = SessionRow.__table__
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(table).where(table.c.username == username))
        return int(result.rowcount or 0)


def _text(value: Union[bytes, str]) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


class RedisSessionStore:
    """Sessions in Redis: a hash per session (expiring with it) and a set of session ids per account."""

    def __init__(self, redis: "Redis[bytes]", prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix + "console:"

    def _session_key(self, sid: str) -> str:
        return f"{self._prefix}session:{sid}"

    def _user_key(self, username: str) -> str:
        return f"{self._prefix}user:{username}"

    async def create(self, token: str, session: ConsoleSession) -> None:
        """Keep ``session`` under ``token`` until it expires."""
        sid = token_id(token)
        fields: Dict[str, str] = {"username": session.username, "display_name": session.display_name,
                                  "role": session.role, "csrf_token": session.csrf_token,
                                  "expires_at": repr(session.expires_at)}
        expire_at = int(session.expires_at) + 1
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._session_key(sid), mapping=fields)  # type: ignore[arg-type]  # str mapping is fine
            pipe.expireat(self._session_key(sid), expire_at)
            pipe.sadd(self._user_key(session.username), sid)
            pipe.expire(self._user_key(session.username), SESSION_MAX_AGE + 60)
            await pipe.execute()

    async def get(self, token: str) -> Optional[ConsoleSession]:
        """The live session of ``token``, or None."""
        raw = await self._redis.hgetall(self._session_key(token_id(token)))
        if not raw:
            return None
        fields = {_text(k): _text(v) for k, v in raw.items()}
        expires_at = float(fields.get("expires_at") or 0)
        if expires_at <= time.time():
            return None
        return ConsoleSession(fields["username"], fields["display_name"], fields["role"], fields["csrf_token"],
                              expires_at)

    async def delete(self, token: str) -> None:
        """End one session."""
        sid = token_id(token)
        key = self._session_key(sid)
        username = await self._redis.hget(key, "username")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            if username is not None:
                pipe.srem(self._user_key(_text(username)), sid)
            await pipe.execute()

    async def revoke_user(self, username: str) -> int:
        """End every session of ``username``."""
        user_key = self._user_key(username)
        sids = [_text(s) for s in await self._redis.smembers(user_key)]
        async with self._redis.pipeline(transaction=True) as pipe:
            for sid in sids:
                pipe.delete(self._session_key(sid))
            pipe.delete(user_key)
            results = await pipe.execute()
        return sum(int(n) for n in results[:len(sids)])
