"""Who answers a conversation: the bot or a live agent (handoff hook)."""
from __future__ import annotations

from enum import Enum
from typing import Dict, Protocol


class Route(str, Enum):
    """Per-conversation routing state."""

    BOT = "bot"
    AGENT = "agent"


class RoutingService(Protocol):
    """Reads and changes a conversation's route."""

    async def get(self, conversation_id: str) -> Route: ...

    async def set(self, conversation_id: str, route: Route) -> None: ...


class InMemoryRouting:
    """Routing state kept in this process; every conversation starts with the bot."""

    def __init__(self) -> None:
        self._routes: Dict[str, Route] = {}

    async def get(self, conversation_id: str) -> Route:
        return self._routes.get(conversation_id, Route.BOT)

    async def set(self, conversation_id: str, route: Route) -> None:
        if route is Route.BOT:
            self._routes.pop(conversation_id, None)
        else:
            self._routes[conversation_id] = Route(route)
