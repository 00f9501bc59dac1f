"""Contracts between the conversation service and the subsystems that join a turn or follow a handoff.

The app factory (``bot/app.py``) wires them explicitly: ``ConversationService(..., hooks=[...])`` calls
every :class:`TurnHook` in order, and ``HandoffManager`` tells its :class:`HandoffClosedListener` when
an officer closes a case. No subsystem sets attributes on another one after construction.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Protocol

from bot.routing import Route

BotMessage = Dict[str, Any]


@dataclass(frozen=True)
class Turn:
    """One taxpayer message as the gateway saw it (the text is already masked)."""

    conversation_id: str
    text: str
    channel: str
    route: Route
    language: Optional[str] = None


class TurnHook(Protocol):
    """A subsystem that may answer a message itself or add replies after the bot (handoff, survey)."""

    async def before_turn(self, turn: Turn) -> Optional[List[BotMessage]]:
        """Replies that replace the bot's for this turn, or None to let the turn go on."""
        ...

    async def after_turn(self, turn: Turn, replies: List[BotMessage]) -> List[BotMessage]:
        """Extra replies to append after ``replies`` (may be empty)."""
        ...


@dataclass(frozen=True)
class HandoffClosed:
    """An officer closed a handoff: ``outcome`` is "resolved" or "bot" (handed back)."""

    conversation_id: str
    agent: str
    outcome: str


class HandoffClosedListener(Protocol):
    """Told after a handoff is closed (the survey asks for a rating when it was resolved)."""

    async def handoff_closed(self, event: HandoffClosed) -> None:
        """React to the closed handoff; errors are logged by the caller, never raised to the officer."""
        ...


class TaxpayerDelivery(Protocol):
    """Sends a message to a taxpayer outside a turn (sockets on this instance, WeChat's service API)."""

    async def deliver(self, conversation_id: str, message: BotMessage) -> None:
        """Deliver ``message``; a taxpayer not connected here is simply not reached by this delivery."""
        ...
