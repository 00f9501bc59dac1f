"""Wires the handoff into the gateway app: store, routing, console sessions, routes, listener, sweeper."""
from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator, Optional

from aiohttp import web

from bot.db.contact import contact_cipher
from bot.db.handoff_repository import HandoffRepository
from bot.handoff.auth import setup_auth
from bot.handoff.fanout import sweep_forever
from bot.handoff.knowledge_search import KnowledgeSearch
from bot.handoff.manager import HandoffManager
from bot.handoff.policy import HandoffPolicy, load_policy
from bot.handoff.rasa_control import RasaControl
from bot.handoff.store import HandoffStore, MemoryHandoffStore, RedisHandoffStore, StoreRouting
from bot.handoff.views import setup_handoff_routes
from bot.keys import (
    ENGINE,
    HANDOFF,
    HANDOFF_POLICY,
    HANDOFF_REPO,
    HANDOFF_STORE,
    HTTP,
    KNOWLEDGE_SEARCH,
    METRICS,
    ROUTING,
    TRANSCRIPTS,
)
from bot.routing import RoutingService
from bot.settings import Settings
from bot.tasks import background

#: How long start-up waits for the fan-out subscription before serving anyway.
SUBSCRIBE_WAIT_SECONDS = 5.0


def _store(settings: Settings) -> HandoffStore:
    if settings.redis_url:
        return RedisHandoffStore(settings.redis_url, settings.handoff_redis_prefix,
                                 timeout=max(1.0, settings.connect_timeout))
    return MemoryHandoffStore()


def setup_handoff(
    app: web.Application, settings: Settings, routing: Optional[RoutingService] = None,
    store: Optional[HandoffStore] = None, policy: Optional[HandoffPolicy] = None,
) -> None:
    """Add the handoff to ``app``; the manager and its background tasks start with the app (``cleanup_ctx``).

    ``store`` and ``policy`` replace the configured ones (tests); a given store is not closed by the app.
    Without a given ``routing`` the routes live in the handoff store, shared by every instance.
    """
    owned = store is None
    shared = store if store is not None else _store(settings)
    app[HANDOFF_STORE] = shared
    app[HANDOFF_POLICY] = policy or settings.handoff_policy or load_policy({})
    if routing is None:
        app[ROUTING] = StoreRouting(shared)
    app[KNOWLEDGE_SEARCH] = KnowledgeSearch()
    setup_auth(app, settings.session_key, settings.cookie_secure)
    setup_handoff_routes(app)

    async def handoff_ctx(app: web.Application) -> AsyncIterator[None]:
        metrics = app[METRICS]
        repo = HandoffRepository(app[ENGINE], contact_cipher(settings.contact_key, settings.session_secret))
        app[HANDOFF_REPO] = repo
        await repo.seal_legacy_contacts()
        rasa = RasaControl(lambda: app[HTTP], settings.rasa_workers, settings.rasa_token,
                           lambda: metrics.error("rasa_api"))
        manager = HandoffManager(shared, app[HANDOFF_POLICY], repo, app[TRANSCRIPTS], rasa, metrics.error)
        app[HANDOFF] = manager
        ready = asyncio.Event()
        sweeper = sweep_forever(manager.agents, manager.policy.sweep_seconds)
        async with background(manager.fanout.listen(ready), sweeper):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(ready.wait(), SUBSCRIBE_WAIT_SECONDS)
            yield
        await manager.console.close_all()
        if owned:
            await shared.close()

    async def close_consoles(app: web.Application) -> None:  # an on_shutdown signal handler
        """On shutdown, before waiting for open requests: consoles reconnect (1001) to another instance."""
        manager = app.get(HANDOFF)
        if manager is not None:
            await manager.console.close_all()

    app.cleanup_ctx.append(handoff_ctx)
    app.on_shutdown.append(close_consoles)  # type: ignore[arg-type]  # aiosignal 1.4 types Signal differently
