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
import hashlib
import hmac
import logging
import secrets
from typing import Any, Awaitable, Callable, Dict, Optional

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
ROLES = ("agent", "analyst", "admin")
AGENT_ROLES = ("agent", "admin")
_DUMMY_HASH = bcrypt.hashpw(b"not-a-password", bcrypt.gensalt(4))


def hash_password(password: str, rounds: int = 12) -> str:
    if not password or len(password) < 8:
        raise ValueError("the password must have at least 8 characters")
    if len(password.encode("utf-8")) > 72:
        raise ValueError("the password must be at most 72 bytes (bcrypt's limit)")
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


def check_password(password: str, hashed: Optional[str]) -> bool:
    """Constant work whether or not the account exists."""
    try:
        candidate = password.encode("utf-8")[:72]
        if hashed is None:
            bcrypt.checkpw(candidate, _DUMMY_HASH)
            return False
        return bcrypt.checkpw(candidate, hashed.encode("ascii"))
    except ValueError:
        return False


async def check_password_async(password: str, hashed: Optional[str]) -> bool:
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
    storage = EncryptedCookieStorage(
        session_key_bytes(key), cookie_name=COOKIE_NAME, max_age=SESSION_MAX_AGE, httponly=True,
        samesite="Strict", secure=secure, path="/agent",
    )
    setup_session(app, storage)


async def login_session(request: web.Request, account: Dict[str, Any]) -> Dict[str, str]:
    session = await new_session(request)  # a fresh session (and identity) on every login
    session["user"] = account["username"]
    session["name"] = account["display_name"]
    session["role"] = account["role"]
    session["csrf"] = secrets.token_urlsafe(32)
    return {"username": account["username"], "display_name": account["display_name"], "role": account["role"],
            "csrf_token": session["csrf"]}


async def current_user(request: web.Request) -> Optional[Dict[str, str]]:
    session = await get_session(request)
    user = session.get("user")
    if not user:
        return None
    return {"username": user, "display_name": session.get("name") or user, "role": session.get("role"),
            "csrf_token": session.get("csrf")}


def _check_csrf(request: web.Request, user: Dict[str, str]) -> None:
    sent = request.headers.get(CSRF_HEADER, "")
    expected = user.get("csrf_token") or ""
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise ApiError(403, "csrf_failed", f"missing or wrong {CSRF_HEADER} header")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def require_role(*roles: str) -> Callable[[Handler], Handler]:
    """Only a signed-in user with one of ``roles``; POST/PUT/DELETE also need the CSRF header."""

    def wrap(handler: Handler) -> Handler:
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

        checked.__name__ = handler.__name__
        checked.__doc__ = handler.__doc__
        return checked

    return wrap
