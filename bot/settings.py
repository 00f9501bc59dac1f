"""The gateway's settings: one object per process, read from the environment through ``knowledge.env``."""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Tuple

from bot.analytics.settings import AnalyticsSettings
from bot.handoff.policy import HandoffPolicy, load_policy
from bot.wechat.settings import WeChatSettings
from knowledge.env import Env, SettingsError

__all__ = ["BOT_DIR", "PROJECT_ROOT", "Settings", "SettingsError"]

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
    probe_interval: float = 1.0  # each Rasa worker's / is probed this often (bot/rasa_probe.py)
    probe_misses: int = 3
    rasa_shared_tracker: Optional[bool] = None  # None: shared when redis_url is set (scripts/stack.py)
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
    contact_key: Optional[str] = field(default=None, repr=False)  # None: derived from session_secret
    cookie_secure: bool = False  # from_env: true unless ENVIRONMENT=development
    environment: str = "production"
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    write_burst: int = 10
    write_per_minute: float = 10.0
    handoff_redis_prefix: str = "taxguide:handoff:"
    bcrypt_rounds: int = 12
    login_max_failures: int = 5  # per account, then locked (exponential back-off)
    login_address_max_failures: int = 20  # per client address
    login_lockout_seconds: float = 30.0
    # the subsystems' own sections; None: their defaults (no environment read)
    analytics: Optional[AnalyticsSettings] = None
    wechat: WeChatSettings = field(default_factory=WeChatSettings)
    handoff_policy: Optional[HandoffPolicy] = None  # None: policy.yml without overrides

    @property
    def analytics_settings(self) -> AnalyticsSettings:
        """The survey and analytics-writer settings (their defaults for this database when not given)."""
        return self.analytics or AnalyticsSettings.from_env(self.database_url, {})

    @property
    def rasa_workers(self) -> Tuple[str, ...]:
        """The Rasa servers conversations are spread over (at least rasa_url)."""
        return self.rasa_urls or (self.rasa_url,)

    @property
    def rasa_context_shared(self) -> bool:
        """Whether every Rasa worker sees every conversation's tracker (Redis tracker store)."""
        return self.redis_url is not None if self.rasa_shared_tracker is None else self.rasa_shared_tracker

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "Settings":
        """Build settings from environment variables (``os.environ`` by default)."""
        read = Env(env)
        rasa_urls = tuple(u.rstrip("/") for u in read.items("RASA_URLS"))
        database_url = _resolve_sqlite(read.text("DATABASE_URL") or DEFAULT_DATABASE_URL)
        environment = read.choice("ENVIRONMENT", cls.environment, ("production", "development"))
        if len(set(rasa_urls)) != len(rasa_urls):
            raise SettingsError("RASA_URLS must not list a Rasa server twice")
        return cls(
            host=read.text("HOST", cls.host) or cls.host,
            port=read.integer("PORT", cls.port, minimum=1, maximum=65535),
            rasa_url=rasa_urls[0] if rasa_urls else (read.text("RASA_URL") or cls.rasa_url).rstrip("/"),
            rasa_urls=rasa_urls,
            action_server_url=(read.text("ACTION_SERVER_URL") or cls.action_server_url).rstrip("/"),
            database_url=database_url,
            redis_url=read.text("REDIS_URL"),
            connect_timeout=read.number("UPSTREAM_CONNECT_TIMEOUT", cls.connect_timeout),
            reply_timeout=read.number("UPSTREAM_TIMEOUT", cls.reply_timeout, maximum=30, positive=True),
            health_timeout=read.number("HEALTH_TIMEOUT", cls.health_timeout),
            probe_interval=read.number("RASA_PROBE_INTERVAL", cls.probe_interval, maximum=60, positive=True),
            probe_misses=read.integer("RASA_PROBE_MISSES", cls.probe_misses, minimum=1),
            rasa_shared_tracker=read.boolean("RASA_SHARED_TRACKER", read.text("REDIS_URL") is not None),
            max_message_chars=read.integer("MAX_MESSAGE_CHARS", cls.max_message_chars),
            max_body_bytes=read.integer("MAX_BODY_BYTES", cls.max_body_bytes),
            sender_burst=read.integer("RATE_LIMIT_SENDER_BURST", cls.sender_burst),
            sender_per_minute=read.number("RATE_LIMIT_SENDER_PER_MINUTE", cls.sender_per_minute),
            ip_burst=read.integer("RATE_LIMIT_IP_BURST", cls.ip_burst),
            ip_per_minute=read.number("RATE_LIMIT_IP_PER_MINUTE", cls.ip_per_minute),
            session_secret=read.text("SESSION_SECRET") or secrets.token_hex(32),
            trust_proxy=read.boolean("TRUST_PROXY", cls.trust_proxy),
            cors_origins=read.items("CORS_ALLOWED_ORIGINS"),
            run_migrations=read.boolean("RUN_MIGRATIONS", cls.run_migrations),
            history_limit=read.integer("HISTORY_LIMIT", cls.history_limit),
            log_level=(read.text("LOG_LEVEL") or cls.log_level).upper(),
            rasa_token=read.text("RASA_TOKEN"),
            session_key=read.text("SESSION_KEY"),
            contact_key=read.text("CONTACT_KEY"),
            cookie_secure=read.boolean("SESSION_COOKIE_SECURE", environment != "development"),
            environment=environment,
            header_timeout=read.number("HEADER_TIMEOUT", cls.header_timeout, positive=True),
            body_timeout=read.number("BODY_TIMEOUT", cls.body_timeout, positive=True),
            write_burst=read.integer("RATE_LIMIT_WRITE_BURST", cls.write_burst),
            write_per_minute=read.number("RATE_LIMIT_WRITE_PER_MINUTE", cls.write_per_minute),
            handoff_redis_prefix=read.text("HANDOFF_REDIS_PREFIX") or cls.handoff_redis_prefix,
            bcrypt_rounds=read.integer("BCRYPT_ROUNDS", cls.bcrypt_rounds, minimum=4, maximum=31),
            login_max_failures=read.integer("LOGIN_MAX_FAILURES", cls.login_max_failures, minimum=1),
            login_address_max_failures=read.integer("LOGIN_ADDRESS_MAX_FAILURES", cls.login_address_max_failures,
                                                    minimum=1),
            login_lockout_seconds=read.number("LOGIN_LOCKOUT_SECONDS", cls.login_lockout_seconds, positive=True),
            analytics=AnalyticsSettings.from_env(database_url, env),
            wechat=WeChatSettings.from_env(env),
            handoff_policy=load_policy(env),
        )

