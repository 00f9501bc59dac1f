"""The gateway's routing over the shared handoff store, so every instance agrees who answers."""
from __future__ import annotations

import logging

from bot.handoff.store.base import HandoffStore
from bot.routing import Route

log = logging.getLogger(__name__)


class StoreRouting:
    """A ``bot.routing.RoutingService`` reading and writing the routes in a ``HandoffStore``."""

    def __init__(self, store: HandoffStore) -> None:
        self.store = store

    async def get(self, conversation_id: str) -> Route:
        """The conversation's route; the bot when the shared state is down (never lose the taxpayer)."""
        try:
            return await self.store.get_route(conversation_id)
        except Exception as exc:
            log.warning("handoff route unavailable (%s); the bot answers", type(exc).__name__)
            return Route.BOT

    async def set(self, conversation_id: str, route: Route) -> None:
        """Set the conversation's route."""
        await self.store.set_route(conversation_id, Route(route))
