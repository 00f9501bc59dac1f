"""Console login throttling: lockout with exponential back-off per account and per client address.

Wrong passwords are counted per (address, username) pair; unknown usernames count like real ones.
An account is locked after ``account_failures`` wrong passwords in a row (from any address), an address
after ``address_failures`` (for any usernames). Each further failure doubles the lock, up to
``max_lockout_seconds``; a locked login is refused (429, Retry-After) before its password is checked,
so the lock holds for the right password too. A successful login clears its own account's failures
only: the address keeps the failures it made against other accounts. Failures are forgotten
``forget_seconds`` after the last one. Two backends: the ``console_login_failures`` table, or Redis.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, List, Optional, Protocol, Tuple, Union

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.models import ConsoleLoginFailure
from bot.db.repository import utcnow
from bot.ratelimit import Limit, RateLimiter

if TYPE_CHECKING:
    from redis.asyncio import Redis

MAX_NAME_CHARS = 64
#: Login attempts (right or wrong) one address may make: a token bucket of ``bot.ratelimit``.
ATTEMPTS_PER_ADDRESS = Limit(burst=20, per_minute=20.0)


@dataclass(frozen=True)
class LoginPolicy:
    """When logins lock and for how long."""

    account_failures: int = 5
    address_failures: int = 20
    lockout_seconds: float = 30.0
    max_lockout_seconds: float = 3600.0
    forget_seconds: float = 24 * 3600.0

    def lockout(self, failures: int, free: int) -> float:
        """Seconds locked after ``failures`` in a row when ``free`` are allowed (0: not locked)."""
        if free <= 0 or failures < free:
            return 0.0
        return float(min(self.max_lockout_seconds, self.lockout_seconds * 2 ** min(failures - free, 32)))


@dataclass(frozen=True)
class Tally:
    """Failures in a row and the time of the last one (UNIX), for an account or an address."""

    failures: int = 0
    last: float = 0.0


class FailureLog(Protocol):
    """Where wrong passwords are counted (shared by every gateway instance)."""

    async def tallies(self, address: str, username: str) -> Tuple[Tally, Tally]:
        """The (account, address) tallies (forgotten failures not counted)."""
        ...

    async def failed(self, address: str, username: str) -> None:
        """Count one wrong password of ``username`` from ``address``."""
        ...

    async def succeeded(self, username: str) -> None:
        """Forget ``username``'s failures (from every address); other accounts' stay."""
        ...


def normalize(username: str) -> str:
    """The name failures are counted under (case-folded, at most 64 characters)."""
    return username.strip().casefold()[:MAX_NAME_CHARS]


def _ts(value: datetime) -> float:
    if value.tzinfo is None:  # SQLite returns naive UTC
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


class SqlFailureLog:
    """Failures in the ``console_login_failures`` table."""

    def __init__(self, engine: AsyncEngine, forget_seconds: float) -> None:
        self._engine = engine
        self._forget = forget_seconds

    async def tallies(self, address: str, username: str) -> Tuple[Tally, Tally]:
        """The (account, address) tallies."""
        table = ConsoleLoginFailure.__table__
        since = utcnow() - timedelta(seconds=self._forget)
        fresh = table.c.last_failure_at > since
        totals = select(func.coalesce(func.sum(table.c.failures), 0), func.max(table.c.last_failure_at))
        async with self._engine.connect() as conn:
            account = (await conn.execute(totals.where(table.c.username == username, fresh))).one()
            by_address = (await conn.execute(totals.where(table.c.address == address, fresh))).one()
        return (Tally(int(account[0]), _ts(account[1]) if account[1] else 0.0),
                Tally(int(by_address[0]), _ts(by_address[1]) if by_address[1] else 0.0))

    async def failed(self, address: str, username: str) -> None:
        """Count one wrong password (stale counts restart from one)."""
        table = ConsoleLoginFailure.__table__
        now = utcnow()
        since = now - timedelta(seconds=self._forget)
        key = (table.c.address == address) & (table.c.username == username)
        for _ in range(3):  # an insert racing another instance's insert: count again as an update
            async with self._engine.begin() as conn:
                await conn.execute(delete(table).where(table.c.last_failure_at <= since))
                result = await conn.execute(update(table).where(key).values(
                    failures=table.c.failures + 1, last_failure_at=now))
                if result.rowcount:
                    return
                try:
                    async with conn.begin_nested():
                        await conn.execute(table.insert().values(address=address, username=username, failures=1,
                                                                 last_failure_at=now))
                    return
                except IntegrityError:
                    continue

    async def succeeded(self, username: str) -> None:
        """Forget ``username``'s failures."""
        table = ConsoleLoginFailure.__table__
        async with self._engine.begin() as conn:
            await conn.execute(delete(table).where(table.c.username == username))


_FAILED_LUA = """
redis.call('HINCRBY', KEYS[1], 'n:' .. ARGV[2], 1)
redis.call('HSET', KEYS[1], 'last', ARGV[3])
redis.call('HINCRBY', KEYS[2], 'n:' .. ARGV[1], 1)
redis.call('HSET', KEYS[2], 'last', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
"""

_SUCCEEDED_LUA = """
local addresses = redis.call('HKEYS', KEYS[1])
for _, field in ipairs(addresses) do
  if string.sub(field, 1, 2) == 'n:' then
    redis.call('HDEL', ARGV[1] .. string.sub(field, 3), 'n:' .. ARGV[2])
  end
end
redis.call('DEL', KEYS[1])
return 1
"""


def _text(value: Union[bytes, str]) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


class RedisFailureLog:
    """Failures in Redis: per account a hash address -> count, per address a hash username -> count."""

    def __init__(self, redis: "Redis[bytes]", prefix: str, forget_seconds: float) -> None:
        self._redis = redis
        self._prefix = prefix + "login:"
        self._forget_ms = int(forget_seconds * 1000)
        self._failed = redis.register_script(_FAILED_LUA)
        self._succeeded = redis.register_script(_SUCCEEDED_LUA)

    def _user(self, username: str) -> str:
        return f"{self._prefix}user:{username}"

    def _address(self, address: str) -> str:
        return f"{self._prefix}addr:{address}"

    async def tallies(self, address: str, username: str) -> Tuple[Tally, Tally]:
        """The (account, address) tallies."""
        account = await self._redis.hgetall(self._user(username))
        by_address = await self._redis.hgetall(self._address(address))
        return self._tally(account), self._tally(by_address)

    @staticmethod
    def _tally(raw: "dict[bytes, bytes]") -> Tally:
        fields = {_text(k): _text(v) for k, v in raw.items()}
        counts: List[int] = [int(v) for k, v in fields.items() if k.startswith("n:")]
        return Tally(sum(counts), float(fields.get("last") or 0.0)) if counts else Tally()

    async def failed(self, address: str, username: str) -> None:
        """Count one wrong password."""
        await self._failed(keys=[self._user(username), self._address(address)],
                           args=[address, username, repr(time.time()), self._forget_ms])

    async def succeeded(self, username: str) -> None:
        """Forget ``username``'s failures."""
        await self._succeeded(keys=[self._user(username)], args=[self._prefix + "addr:", username])


@dataclass(frozen=True)
class Verdict:
    """Whether a login may be tried now, and if not, for how long it is locked."""

    allowed: bool
    retry_after: float = 0.0
    scope: Optional[str] = None  # "account" or "address" when locked


class LoginGuard:
    """Locks and counts console logins (``check`` before the password, then ``failed`` or ``succeeded``)."""

    def __init__(self, log: FailureLog, policy: LoginPolicy, limiter: RateLimiter,
                 attempts: Limit = ATTEMPTS_PER_ADDRESS) -> None:
        self.log = log
        self.policy = policy
        self.limiter = limiter
        self.attempts = attempts

    async def check(self, address: str, username: str) -> Verdict:
        """Whether ``username`` may try a password from ``address`` now (one attempt of the address's bucket)."""
        decision = await self.limiter.hit(f"console-login:{address}", self.attempts)
        if not decision.allowed:
            return Verdict(False, decision.retry_after, "address")
        account, by_address = await self.log.tallies(address, normalize(username))
        now = time.time()
        waits = [
            ("account", account.last + self.policy.lockout(account.failures, self.policy.account_failures) - now,
             account.failures >= self.policy.account_failures),
            ("address", by_address.last + self.policy.lockout(by_address.failures, self.policy.address_failures) - now,
             by_address.failures >= self.policy.address_failures),
        ]
        locked = [(wait, scope) for scope, wait, over in waits if over and wait > 0]
        if not locked:
            return Verdict(True)
        wait, scope = max(locked)
        return Verdict(False, wait, scope)

    async def failed(self, address: str, username: str) -> None:
        """Count a wrong password (or an unknown or disabled username)."""
        await self.log.failed(address, normalize(username))

    async def succeeded(self, username: str) -> None:
        """The right password: the account's failures are forgotten."""
        await self.log.succeeded(normalize(username))
