"""Wires the handoff into the gateway app: store, routing, console sessions, routes, listener, sweeper."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import AsyncIterator, Optional

from aiohttp import web

from bot.db.handoff_repository import HandoffRepository
from bot.handoff.auth import setup_auth
from bot.handoff.knowledge_search import KnowledgeSearch
from bot.handoff.manager import HandoffManager
from bot.handoff.policy import HandoffPolicy, load_policy
from bot.handoff.rasa_control import RasaControl
from bot.handoff.store import HandoffStore, MemoryHandoffStore, RedisHandoffStore, StoreRouting
from bot.handoff.views import setup_handoff_routes
from bot.keys import (
    ENGINE, HANDOFF, HANDOFF_POLICY, HANDOFF_REPO, HANDOFF_STORE, HTTP, KNOWLEDGE_SEARCH, METRICS, ROUTING,
    TRANSCRIPTS,
)
from bot.routing import RoutingService
from bot.settings import Settings

log = logging.getLogger(__name__)


def setup_handoff(
    app: web.Application, settings: Settings, routing: Optional[RoutingService] = None,
    store: Optional[HandoffStore] = None, policy: Optional[HandoffPolicy] = None,
) -> None:
    owned = store is None
    if store is None:
        store = RedisHandoffStore(settings.redis_url, settings.handoff_redis_prefix, timeout=max(1.0, settings.connect_timeout)) if settings.redis_url else MemoryHandoffStore()
    app[HANDOFF_STORE] = store
    app[HANDOFF_POLICY] = policy or load_policy()
    if routing is None:
        app[ROUTING] = StoreRouting(store)
    app[KNOWLEDGE_SEARCH] = KnowledgeSearch()
    setup_auth(app, settings.session_key, settings.cookie_secure)
    setup_handoff_routes(app)

    async def handoff_ctx(app: web.Application) -> AsyncIterator[None]:
        metrics = app[METRICS]
        repo = HandoffRepository(app[ENGINE])
        app[HANDOFF_REPO] = repo
        rasa = RasaControl(lambda: app[HTTP], settings.rasa_workers, settings.rasa_token,
                           lambda: metrics.error("rasa_api"))
        manager = HandoffManager(store, app[HANDOFF_POLICY], repo, app[TRANSCRIPTS], rasa, metrics.error)
        app[HANDOFF] = manager
        ready = asyncio.Event()
        tasks = [asyncio.create_task(manager.listen(ready)), asyncio.create_task(manager.sweeper())]
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(ready.wait(), 5.0)
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for sockets in list(manager.consoles.values()):
            for ws in list(sockets):
                with contextlib.suppress(Exception):
                    await ws.close(code=1001, message=b"server shutdown")
        if owned:
            await store.close()

    app.cleanup_ctx.append(handoff_ctx)
