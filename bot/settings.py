"""Gateway configuration, read from the environment in one place."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Tuple

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BOT_DIR = Path(__file__).resolve().parent
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/taxguide.db"


def _resolve_sqlite(url: str) -> str:
    """Make a relative SQLite path absolute against the project root."""
    prefix, sep, path = url.partition(":///")
    if not sep or not prefix.startswith("sqlite") or path.startswith("/"):
        return url
    if path in ("", ":memory:"):
        return url
    return f"{prefix}:///{(PROJECT_ROOT / path).resolve()}"


class SettingsError(ValueError):
    """An environment variable has an invalid value."""


def _get(env: Mapping[str, str], name: str) -> Optional[str]:
    value = env.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def _num(env: Mapping[str, str], name: str, default: float, kind: type = float) -> float:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a {kind.__name__}, got {raw!r}") from None
    if value < 0:
        raise SettingsError(f"{name} must not be negative, got {raw!r}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _get(env, name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


@dataclass(frozen=True)
class Settings:
    """Everything the gateway can be configured with."""

    host: str = "0.0.0.0"
    port: int = 8000
    rasa_url: str = "http://127.0.0.1:5005"
    # Rasa worker processes; a conversation always goes to the same one (consistent hash of its id).
    # Empty: just rasa_url. RASA_URLS, comma-separated; rasa_url is then its first entry.
    rasa_urls: Tuple[str, ...] = ()
    action_server_url: str = "http://127.0.0.1:5055"
    database_url: str = _resolve_sqlite(DEFAULT_DATABASE_URL)
    redis_url: Optional[str] = None
    connect_timeout: float = 1.0
    reply_timeout: float = 4.0
    health_timeout: float = 2.0
    max_message_chars: int = 2000
    max_body_bytes: int = 64 * 1024
    sender_burst: int = 10
    sender_per_minute: float = 30.0
    ip_burst: int = 60
    ip_per_minute: float = 120.0
    session_secret: str = field(default_factory=lambda: secrets.token_hex(32), repr=False)
    trust_proxy: bool = False
    cors_origins: Tuple[str, ...] = ()
    run_migrations: bool = True
    history_limit: int = 500
    log_level: str = "INFO"
    static_dir: Path = BOT_DIR / "static"
    # live-agent handoff and the agent console (bot/handoff)
    rasa_token: Optional[str] = field(default=None, repr=False)
    session_key: Optional[str] = field(default=None, repr=False)
    cookie_secure: bool = False
    handoff_redis_prefix: str = "taxguide:handoff:"
    bcrypt_rounds: int = 12

    @property
    def rasa_workers(self) -> Tuple[str, ...]:
        """The Rasa servers conversations are spread over (at least rasa_url)."""
        return self.rasa_urls or (self.rasa_url,)

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "Settings":
        """Build settings from environment variables (``os.environ`` by default)."""
        env = os.environ if env is None else env
        port = int(_num(env, "PORT", 8000, int))
        if not 0 < port < 65536:
            raise SettingsError(f"PORT must be 1..65535, got {port}")
        reply_timeout = _num(env, "UPSTREAM_TIMEOUT", 4.0)
        if reply_timeout <= 0 or reply_timeout > 30:
            raise SettingsError("UPSTREAM_TIMEOUT must be in (0, 30] seconds")
        origins = tuple(o.strip() for o in (_get(env, "CORS_ALLOWED_ORIGINS") or "").split(",") if o.strip())
        rasa_urls = tuple(u.strip().rstrip("/") for u in (_get(env, "RASA_URLS") or "").split(",") if u.strip())
        if len(set(rasa_urls)) != len(rasa_urls):
            raise SettingsError("RASA_URLS must not list a Rasa server twice")
        return cls(
            host=_get(env, "HOST") or "0.0.0.0",
            port=port,
            rasa_url=rasa_urls[0] if rasa_urls else (_get(env, "RASA_URL") or cls.rasa_url).rstrip("/"),
            rasa_urls=rasa_urls,
            action_server_url=(_get(env, "ACTION_SERVER_URL") or cls.action_server_url).rstrip("/"),
            database_url=_resolve_sqlite(_get(env, "DATABASE_URL") or DEFAULT_DATABASE_URL),
            redis_url=_get(env, "REDIS_URL"),
            connect_timeout=_num(env, "UPSTREAM_CONNECT_TIMEOUT", 1.0),
            reply_timeout=reply_timeout,
            health_timeout=_num(env, "HEALTH_TIMEOUT", 2.0),
            max_message_chars=int(_num(env, "MAX_MESSAGE_CHARS", 2000, int)),
            max_body_bytes=int(_num(env, "MAX_BODY_BYTES", 64 * 1024, int)),
            sender_burst=int(_num(env, "RATE_LIMIT_SENDER_BURST", 10, int)),
            sender_per_minute=_num(env, "RATE_LIMIT_SENDER_PER_MINUTE", 30.0),
            ip_burst=int(_num(env, "RATE_LIMIT_IP_BURST", 60, int)),
            ip_per_minute=_num(env, "RATE_LIMIT_IP_PER_MINUTE", 120.0),
            session_secret=_get(env, "SESSION_SECRET") or secrets.token_hex(32),
            trust_proxy=_bool(env, "TRUST_PROXY", False),
            cors_origins=origins,
            run_migrations=_bool(env, "RUN_MIGRATIONS", True),
            history_limit=int(_num(env, "HISTORY_LIMIT", 500, int)),
            log_level=(_get(env, "LOG_LEVEL") or "INFO").upper(),
            rasa_token=_get(env, "RASA_TOKEN"),
            session_key=_get(env, "SESSION_KEY"),
            cookie_secure=_bool(env, "SESSION_COOKIE_SECURE", False),
            handoff_redis_prefix=_get(env, "HANDOFF_REDIS_PREFIX") or "taxguide:handoff:",
            bcrypt_rounds=int(_num(env, "BCRYPT_ROUNDS", 12, int)),
        )
