"""Agent console authentication: bcrypt passwords, encrypted session cookies, CSRF, roles.

- Accounts live in the SQL database (``agent_accounts``), created with ``python -m bot.accounts``.
- The session is an aiohttp-session ``EncryptedCookieStorage`` cookie (HttpOnly, SameSite=Strict,
  Secure when SESSION_COOKIE_SECURE=true), keyed by SESSION_KEY (generated when unset, so sessions
  then end with the process and differ between instances: set it when running several gateways).
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
import secrets
from typing import Any, Awaitable, Callable, Mapping, Optional, TypedDict

import bcrypt
from aiohttp import web
from aiohttp_session import get_session, new_session
from aiohttp_session import setup as setup_session
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from bot.errors import ApiError

log = logging.getLogger(__name__)

COOKIE_NAME = "taxguide_agent"
CSRF_HEADER = "X-CSRF-Token"
SESSION_MAX_AGE = 8 * 3600
AGENT_ROLES = ("agent", "admin")
MAX_PASSWORD_BYTES = 72  # bcrypt's limit


class ConsoleUser(TypedDict):
    """The signed-in console user (``request["user"]`` in views behind ``require_role``)."""

    username: str
    display_name: str
    role: str
    csrf_token: str


@functools.lru_cache(maxsize=1)
def _dummy_hash() -> bytes:
    """A hash to check unknown usernames against, computed on first use (not at import)."""
    return bcrypt.hashpw(b"not-a-password", bcrypt.gensalt(4))


def hash_password(password: str, rounds: int = 12) -> str:
    """A bcrypt hash of ``password`` (8 characters to 72 bytes)."""
    if not password or len(password) < 8:
        raise ValueError("the password must have at least 8 characters")
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise ValueError("the password must be at most 72 bytes (bcrypt's limit)")
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


def check_password(password: str, hashed: Optional[str]) -> bool:
    """Whether ``password`` matches ``hashed``; the same work when there is no account (``hashed`` None)."""
    try:
        candidate = password.encode("utf-8")[:MAX_PASSWORD_BYTES]
        if hashed is None:
            bcrypt.checkpw(candidate, _dummy_hash())
            return False
        return bool(bcrypt.checkpw(candidate, hashed.encode("ascii")))
    except ValueError:
        return False


async def check_password_async(password: str, hashed: Optional[str]) -> bool:
    """``check_password`` in a worker thread (bcrypt is slow on purpose)."""
    return await asyncio.get_running_loop().run_in_executor(None, check_password, password, hashed)


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


def setup_auth(app: web.Application, key: Optional[str], secure: bool) -> None:
    """Install the encrypted cookie sessions of the console (scoped to /agent)."""
    storage = EncryptedCookieStorage(
        session_key_bytes(key), cookie_name=COOKIE_NAME, max_age=SESSION_MAX_AGE, httponly=True,
        samesite="Strict", secure=secure, path="/agent",
    )
    setup_session(app, storage)


async def login_session(request: web.Request, account: Mapping[str, Any]) -> ConsoleUser:
    """Start a fresh session (and identity) for ``account``; returns the user with the new CSRF token."""
    session = await new_session(request)
    session["user"] = account["username"]
    session["name"] = account["display_name"]
    session["role"] = account["role"]
    session["csrf"] = secrets.token_urlsafe(32)
    return {"username": account["username"], "display_name": account["display_name"], "role": account["role"],
            "csrf_token": session["csrf"]}


async def current_user(request: web.Request) -> Optional[ConsoleUser]:
    """The signed-in user of the request's session, or None."""
    session = await get_session(request)
    user = session.get("user")
    if not user:
        return None
    return {"username": user, "display_name": session.get("name") or user, "role": session.get("role"),
            "csrf_token": session.get("csrf")}


async def end_session(request: web.Request) -> None:
    """Sign out: the session cookie is invalidated."""
    (await get_session(request)).invalidate()


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
