"""Application factory of the TaxGuide gateway: every subsystem is wired here, explicitly.

Start-up order (``cleanup_ctx``): HTTP client, database, Redis; the handoff (store, manager, fan-out
listener); analytics (durable writer, queries); then ``services_ctx`` joins them: the conversation
service with its turn hooks (handoff, survey), the survey as the handoff's closed-case listener and
the taxpayer sockets as the handoff's delivery; last the WeChat channel when configured.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, AsyncIterator, Optional

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web

from bot.analytics.setup import build_survey, setup_analytics
from bot.db.engine import create_engine
from bot.db.migrate import upgrade_head
from bot.db.repository import TranscriptEntry, TranscriptRepository
from bot.errors import error_middleware
from bot.handoff.policy import HandoffPolicy
from bot.handoff.setup import setup_handoff
from bot.handoff.store import HandoffStore
from bot.health import HealthService
from bot.hooks import BotMessage
from bot.i18n_view import routes as i18n_routes
from bot.keys import (
    ENGINE,
    HANDOFF,
    HANDOFF_REPO,
    HEALTH,
    HTTP,
    METRICS,
    REDIS,
    ROUTING,
    SERVICE,
    SETTINGS,
    SIGNER,
    SIO,
    SURVEY,
    THROTTLE,
    TRANSCRIPTS,
    WRITER,
)
from bot.metrics import Metrics
from bot.rasa_client import RasaClient
from bot.rasa_probe import RasaProber, WorkerPool
from bot.ratelimit import Limit, MemoryRateLimiter, RateLimiter, RedisRateLimiter, Throttle
from bot.routing import InMemoryRouting, RoutingService
from bot.security import setup_security_headers
from bot.service import ConversationService
from bot.sessions import SessionSigner
from bot.settings import Settings
from bot.socket_channel import SocketTaxpayers, close_socket_server, create_socket_server, register_handlers
from bot.tasks import background
from bot.views import setup_routes
from bot.wechat.setup import setup_wechat

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)


async def http_ctx(app: web.Application) -> AsyncIterator[None]:
    """One shared HTTP client for Rasa and health checks."""
    settings = app[SETTINGS]
    connector = aiohttp.TCPConnector(limit=100, ttl_dns_cache=300)
    app[HTTP] = aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=settings.reply_timeout, connect=settings.connect_timeout),
    )
    yield
    await app[HTTP].close()


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    """Async engine for transcripts; migrations run to head before serving."""
    settings = app[SETTINGS]
    engine = create_engine(settings.database_url)
    app[ENGINE] = engine
    app[TRANSCRIPTS] = TranscriptRepository(engine)
    if settings.run_migrations:
        await upgrade_head(engine)
    yield
    await engine.dispose()


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    """Redis client when REDIS_URL is set (shared rate limits)."""
    settings = app[SETTINGS]
    client: Optional["Redis[bytes]"] = None
    if settings.redis_url:
        client = aioredis.from_url(
            settings.redis_url,
            socket_connect_timeout=settings.connect_timeout,
            socket_timeout=settings.health_timeout,
        )
    app[REDIS] = client
    yield
    if client is not None:
        await client.close(close_connection_pool=True)


async def socket_ctx(app: web.Application) -> AsyncIterator[None]:
    """The socket.io server's lifetime: its Redis client manager (several instances) closes last."""
    yield
    await close_socket_server(app[SIO])


async def services_ctx(app: web.Application) -> AsyncIterator[None]:
    """Build the conversation service over the opened resources and join the subsystems."""
    settings = app[SETTINGS]
    metrics = app[METRICS]
    transcripts = app[TRANSCRIPTS]
    transcripts.attach(app[WRITER])  # transcripts take the analytics' durable path: an outage loses no line
    app[HANDOFF_REPO].attach(app[WRITER])  # and so do the handoff's steps
    handoff = app[HANDOFF]
    handoff.add_subscriber(SocketTaxpayers(app[SIO]))  # agent messages, notices, queue positions, the survey

    async def deliver_survey(conversation_id: str, message: BotMessage) -> None:
        """Store the rating request (REST clients poll it as a 'system' message) and push it everywhere."""
        payload = {k: message[k] for k in ("buttons", "custom") if k in message}
        try:
            await transcripts.add([TranscriptEntry(conversation_id, "system", "survey", message["text"],
                                                   kind="survey", payload=payload)])
        except Exception as exc:  # only when not even the spool can keep it; the request still reaches the taxpayer
            log.error("could not store the rating request: %s", type(exc).__name__)
            metrics.error("db")
        await handoff.send_to_taxpayer(conversation_id, message)

    survey = build_survey(app, deliver_survey)
    app[SURVEY] = survey
    handoff.add_closed_listener(survey)  # an officer's "resolved" asks for a rating
    limiter: RateLimiter
    redis = app[REDIS]
    if redis is not None:
        limiter = RedisRateLimiter(redis, on_error=lambda: metrics.error("redis"))
    else:
        limiter = MemoryRateLimiter()
    app[THROTTLE] = Throttle(
        limiter,
        sender=Limit(settings.sender_burst, settings.sender_per_minute),
        ip=Limit(settings.ip_burst, settings.ip_per_minute),
        write=Limit(settings.write_burst, settings.write_per_minute),  # tickets, ratings, feedback
    )
    pool = WorkerPool(settings.rasa_workers, settings.probe_misses)  # which workers are in the rotation
    rasa = RasaClient(
        app[HTTP],
        settings.rasa_workers,  # sticky per conversation when there are several
        aiohttp.ClientTimeout(total=settings.reply_timeout, connect=settings.connect_timeout),
        pool=pool, shared_context=settings.rasa_context_shared, token=settings.rasa_token,
    )
    app[SERVICE] = ConversationService(
        rasa, transcripts, app[ROUTING], metrics, settings.history_limit, hooks=(handoff, survey)
    )
    app[HEALTH] = HealthService(
        app[HTTP], settings.rasa_workers, settings.action_server_url, transcripts, app[REDIS], settings.health_timeout,
        rotation=pool.status,
    )
    probing = [RasaProber(app[HTTP], pool, settings.probe_interval).run()] if len(pool.workers) > 1 else []
    async with background(*probing):  # with one worker there is nothing to fail over to
        yield
    await rasa.close()  # stop waiting to revert timed-out turns


def create_app(
    settings: Optional[Settings] = None,
    routing: Optional[RoutingService] = None,
    handoff_store: Optional[HandoffStore] = None,
    handoff_policy: Optional[HandoffPolicy] = None,
) -> web.Application:
    """Assemble the gateway; resources open on startup and close on cleanup."""
    settings = settings or Settings.from_env()
    metrics = Metrics()
    app = web.Application(
        middlewares=[error_middleware(metrics.error)],
        client_max_size=settings.max_body_bytes,
    )
    setup_security_headers(app)  # CSP, X-Frame-Options, Referrer-Policy, nosniff on every response
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app[SIGNER] = SessionSigner(settings.session_secret)
    app[ROUTING] = routing or InMemoryRouting()
    app.cleanup_ctx.extend([socket_ctx, http_ctx, database_ctx, redis_ctx])
    setup_handoff(app, settings, routing, handoff_store, handoff_policy)  # live agents (bot/handoff)
    setup_analytics(app, settings)  # ratings, answer feedback, outcomes, /analytics (bot/analytics)
    app.cleanup_ctx.append(services_ctx)  # the conversation service; hooks, listeners and delivery joined
    setup_wechat(app, settings)  # WeChat Official Account at /wechat, when configured (bot/wechat)

    sio = create_socket_server(settings.cors_origins, settings.redis_url, settings.handoff_redis_prefix + "socketio")
    register_handlers(sio, app)
    sio.attach(app, socketio_path="socket.io")
    app[SIO] = sio

    i18n_routes(app)  # GET /i18n.js: the pages' texts from the message catalogue
    setup_routes(app, settings.static_dir)
    return app
