"""Agent console authentication: bcrypt passwords, server-side sessions, CSRF, roles.

- Accounts live in the SQL database (``agent_accounts``), created with ``python -m bot.accounts``.
- Sessions live on the server (``bot.handoff.sessions``: the database, or Redis with REDIS_URL); the
  cookie only carries the session's random token, inside an aiohttp-session ``EncryptedCookieStorage``
  cookie (HttpOnly, SameSite=Strict, Secure when SESSION_COOKIE_SECURE=true) keyed by SESSION_KEY
  (generated when unset: set it when running several gateways). Logout, disabling an account or
  changing its role ends its sessions at once.
- Logins are throttled per account and per address (``bot.handoff.login_guard``); an unknown username
  costs the same bcrypt work as a known one.
- Every state-changing console request must send the session's CSRF token in ``X-CSRF-Token``.
- Roles: ``agent`` (queue, claim, chat, own conversations), ``admin`` (everything an agent can, and any
  transcript), ``analyst`` (aggregate statistics only).
"""
from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import logging
import math
import secrets
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Mapping, Optional, TypedDict

import bcrypt
from aiohttp import web
from aiohttp_session import get_session, new_session
from aiohttp_session import setup as setup_session
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from bot.errors import ApiError
from bot.handoff.login_guard import FailureLog, LoginGuard, LoginPolicy, RedisFailureLog, SqlFailureLog
from bot.handoff.sessions import (
    SESSION_MAX_AGE,
    ConsoleSession,
    RedisSessionStore,
    SessionStore,
    SqlSessionStore,
    new_token,
    start_session,
)
from bot.http import client_ip
from bot.keys import CONSOLE_SESSIONS, ENGINE, HANDOFF_REPO, LOGIN_GUARD, REDIS, SETTINGS
from bot.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from bot.settings import Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

COOKIE_NAME = "taxguide_agent"
CSRF_HEADER = "X-CSRF-Token"
AGENT_ROLES = ("agent", "admin")
MAX_PASSWORD_BYTES = 72  # bcrypt's limit


class ConsoleUser(TypedDict):
    """The signed-in console user (``request["user"]`` in views behind ``require_role``)."""

    username: str
    display_name: str
    role: str
    csrf_token: str


#: The cookie's field holding the session token.
TOKEN_FIELD = "sid"
_SESSION = "console_session"  # request key: the request's session once looked up


@functools.lru_cache(maxsize=4)
def _dummy_hash(rounds: int = 12) -> bytes:
    """A hash of cost ``rounds`` to check unknown usernames against, computed on first use (not at import)."""
    return bcrypt.hashpw(b"not-a-password", bcrypt.gensalt(rounds))


def hash_password(password: str, rounds: int = 12) -> str:
    """A bcrypt hash of ``password`` (8 characters to 72 bytes)."""
    if not password or len(password) < 8:
        raise ValueError("the password must have at least 8 characters")
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise ValueError("the password must be at most 72 bytes (bcrypt's limit)")
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


def check_password(password: str, hashed: Optional[str], rounds: int = 12) -> bool:
    """Whether ``password`` matches ``hashed``; with no account (``hashed`` None) a check of cost ``rounds``."""
    try:
        candidate = password.encode("utf-8")[:MAX_PASSWORD_BYTES]
        if hashed is None:
            bcrypt.checkpw(candidate, _dummy_hash(rounds))
            return False
        return bool(bcrypt.checkpw(candidate, hashed.encode("ascii")))
    except ValueError:
        return False


async def check_password_async(password: str, hashed: Optional[str], rounds: int = 12) -> bool:
    """``check_password`` in a worker thread (bcrypt is slow on purpose)."""
    return await asyncio.get_running_loop().run_in_executor(None, check_password, password, hashed, rounds)


def session_key_bytes(key: Optional[str]) -> bytes:
    """32 bytes for the cookie cipher: a urlsafe-base64 Fernet key as is, any other string hashed."""
    if not key:
        log.warning("SESSION_KEY is not set: console sessions end when the gateway restarts")
        return secrets.token_bytes(32)
    try:
        raw = base64.urlsafe_b64decode(key.encode("ascii"))
        if len(raw) == 32:
            return raw
    except (ValueError, UnicodeEncodeError):
        pass
    return hashlib.sha256(key.encode("utf-8")).digest()


def session_store(settings: Settings, engine: Any, redis: Optional["Redis[bytes]"]) -> SessionStore:
    """The console sessions: in Redis when there is a client, else in the database."""
    if redis is not None:
        return RedisSessionStore(redis, settings.handoff_redis_prefix)
    return SqlSessionStore(engine)


def login_guard(settings: Settings, engine: Any, redis: Optional["Redis[bytes]"]) -> LoginGuard:
    """The login lockout of ``settings``, counted in Redis when there is a client, else in the database."""
    policy = LoginPolicy(account_failures=settings.login_max_failures,
                         address_failures=settings.login_address_max_failures,
                         lockout_seconds=settings.login_lockout_seconds)
    failures: FailureLog
    limiter: RateLimiter
    if redis is not None:
        failures = RedisFailureLog(redis, settings.handoff_redis_prefix, policy.forget_seconds)
        limiter = RedisRateLimiter(redis, prefix=settings.handoff_redis_prefix + "rl:")
    else:
        failures = SqlFailureLog(engine, policy.forget_seconds)
        limiter = MemoryRateLimiter()
    return LoginGuard(failures, policy, limiter)


async def auth_ctx(app: web.Application) -> AsyncIterator[None]:
    """The session store and login guard over the opened database and Redis (a ``cleanup_ctx``)."""
    settings = app[SETTINGS]
    app[CONSOLE_SESSIONS] = session_store(settings, app[ENGINE], app[REDIS])
    app[LOGIN_GUARD] = login_guard(settings, app[ENGINE], app[REDIS])
    yield


def setup_auth(app: web.Application, key: Optional[str], secure: bool) -> None:
    """Install the console's session cookie (scoped to /agent), session store and login guard."""
    storage = EncryptedCookieStorage(
        session_key_bytes(key), cookie_name=COOKIE_NAME, max_age=SESSION_MAX_AGE, httponly=True,
        samesite="Strict", secure=secure, path="/agent",
    )
    setup_session(app, storage)
    app.cleanup_ctx.append(auth_ctx)


def _user(session: ConsoleSession) -> ConsoleUser:
    return {"username": session.username, "display_name": session.display_name, "role": session.role,
            "csrf_token": session.csrf_token}


async def login_session(request: web.Request, account: Mapping[str, Any]) -> ConsoleUser:
    """Start a fresh server-side session for ``account`` (a new token in the cookie); the user with its CSRF token."""
    store = request.app[CONSOLE_SESSIONS]
    old = (await get_session(request)).get(TOKEN_FIELD)
    if isinstance(old, str):
        await store.delete(old)
    token = new_token()
    session = start_session(account["username"], account["display_name"], account["role"])
    await store.create(token, session)
    cookie = await new_session(request)
    cookie[TOKEN_FIELD] = token
    request[_SESSION] = (token, session)
    return _user(session)


async def session_token(request: web.Request) -> Optional[str]:
    """The session token the request's cookie carries, or None."""
    token = (await get_session(request)).get(TOKEN_FIELD)
    return token if isinstance(token, str) and token else None


async def current_user(request: web.Request) -> Optional[ConsoleUser]:
    """The signed-in user of the request's live server-side session, or None."""
    if _SESSION in request:
        return _user(request[_SESSION][1])
    token = await session_token(request)
    if token is None:
        return None
    session = await request.app[CONSOLE_SESSIONS].get(token)
    if session is None:
        return None
    request[_SESSION] = (token, session)
    return _user(session)


async def end_session(request: web.Request) -> None:
    """Sign out: the server-side session ends and the cookie is cleared."""
    token = await session_token(request)
    if token is not None:
        await request.app[CONSOLE_SESSIONS].delete(token)
    request.pop(_SESSION, None)
    (await get_session(request)).invalidate()


async def sign_in(request: web.Request, username: str, password: str) -> ConsoleUser:
    """Check the password unless the account or address is locked (429), then start a session.

    Wrong passwords, unknown and disabled usernames all answer the same 401 after the same bcrypt work.
    """
    guard = request.app[LOGIN_GUARD]
    address = client_ip(request)
    verdict = await guard.check(address, username)
    if not verdict.allowed:
        raise ApiError(429, "login_locked", "too many failed sign-ins: wait before trying again",
                       {"Retry-After": str(max(1, math.ceil(verdict.retry_after)))})
    repo = request.app[HANDOFF_REPO]
    account = await repo.account(username)
    rounds = request.app[SETTINGS].bcrypt_rounds
    ok = await check_password_async(password, account["password_hash"] if account else None, rounds)
    if not ok or not account or not account["active"]:
        await guard.failed(address, username)
        raise ApiError(401, "invalid_login", "wrong username or password")
    await guard.succeeded(username)
    user = await login_session(request, account)
    # disabled or given another role (another process) while this sign-in ran: its session ends too
    now = await repo.account(account["username"])
    if now is None or not now["active"] or now["role"] != account["role"]:
        await end_session(request)
        raise ApiError(401, "invalid_login", "wrong username or password")
    return user


async def session_check(request: web.Request) -> Callable[[], Awaitable[bool]]:
    """A check whether the request's session still lives (for a long-lived console socket)."""
    token = await session_token(request)
    store = request.app[CONSOLE_SESSIONS]

    async def alive() -> bool:
        return token is not None and await store.get(token) is not None

    return alive


def _check_csrf(request: web.Request, user: ConsoleUser) -> None:
    sent = request.headers.get(CSRF_HEADER, "")
    expected = user.get("csrf_token") or ""
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise ApiError(403, "csrf_failed", f"missing or wrong {CSRF_HEADER} header")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def require_role(*roles: str) -> Callable[[Handler], Handler]:
    """Only a signed-in user with one of ``roles``; POST/PUT/DELETE also need the CSRF header."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            user = await current_user(request)
            if user is None:
                raise ApiError(401, "unauthorized", "sign in to the agent console first")
            if user["role"] not in roles:
                raise ApiError(403, "forbidden", "your role may not do this")
            if request.method not in ("GET", "HEAD", "OPTIONS"):
                _check_csrf(request, user)
            request["user"] = user
            return await handler(request)

        return checked

    return wrap
