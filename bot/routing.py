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

    async def get(self, conversation_id: str) -> Route:
        """Who answers the conversation now (the bot unless an officer holds it)."""
        ...

    async def set(self, conversation_id: str, route: Route) -> None:
        """Route the conversation to the bot or an officer."""
        ...


class InMemoryRouting:
    """Routing state kept in this process; every conversation starts with the bot."""

    def __init__(self) -> None:
        self._routes: Dict[str, Route] = {}

    async def get(self, conversation_id: str) -> Route:
        """Who answers the conversation now (the bot unless an officer holds it)."""
        return self._routes.get(conversation_id, Route.BOT)

    async def set(self, conversation_id: str, route: Route) -> None:
        """Route the conversation to the bot or an officer."""
        if route is Route.BOT:
            self._routes.pop(conversation_id, None)
        else:
            self._routes[conversation_id] = Route(route)
