"""The live-agent handoff as the app holds it (``bot.keys.HANDOFF``): one object composed of its parts.

- ``taxpayers`` (``taxpayer.TaxpayerSide``): escalate, queue, cancel, offline messages, status;
- ``agents`` (``agent.AgentSide``): presence, claim, talk, notes, close, requeue, sweep;
- ``console`` (``console.Console``): snapshots, readable conversations, console sockets and presence;
- ``fanout`` (``fanout.Fanout``): every instance delivers the store's events to its own clients.

``HandoffManager`` is the ``bot.hooks.TurnHook`` the conversation service calls on every taxpayer
message. All shared state goes through the ``HandoffStore`` (memory or Redis); every step is written
to ``handoff_events``.
"""
from __future__ import annotations

import logging
from typing import Callable, List, Optional, Sequence

from bot.db.handoff_repository import HandoffRepository
from bot.db.repository import TranscriptRepository
from bot.handoff.agent import AgentSide
from bot.handoff.console import Console
from bot.handoff.effects import Effects
from bot.handoff.fanout import Fanout, TaxpayerSubscriber
from bot.handoff.policy import HandoffPolicy
from bot.handoff.rasa_control import RasaControl
from bot.handoff.store import HandoffStore
from bot.handoff.taxpayer import TaxpayerSide, TicketReceipt
from bot.hooks import BotMessage, HandoffClosedListener, Turn

log = logging.getLogger(__name__)

__all__ = ["HandoffManager", "TaxpayerSubscriber"]


def _ignore(kind: str) -> None:
    """Count nothing (the default error counter)."""


class HandoffManager:
    """The handoff's taxpayer, agent, console and fan-out parts over one store; the turn hook of the gateway."""

    def __init__(
        self, store: HandoffStore, policy: HandoffPolicy, events: HandoffRepository, transcripts: TranscriptRepository,
        rasa: RasaControl, on_error: Callable[[str], None] = _ignore,
    ) -> None:
        self.store = store
        self.policy = policy
        self.on_error = on_error
        self.effects = Effects(store, events, transcripts, rasa, on_error)
        self.taxpayers = TaxpayerSide(store, policy, self.effects)
        self.agents = AgentSide(store, policy, self.effects)
        self.console = Console(store, policy, self.agents, self.effects)
        self.fanout = Fanout(store, self.console, on_error)

    def add_subscriber(self, subscriber: TaxpayerSubscriber) -> None:
        """Deliver taxpayer messages and queue updates through ``subscriber`` (sockets, WeChat)."""
        self.fanout.subscribers.append(subscriber)

    def add_closed_listener(self, listener: HandoffClosedListener) -> None:
        """Tell ``listener`` each time an officer closes a case on this instance."""
        self.agents.closed_listeners.append(listener)

    async def send_to_taxpayer(self, conv_id: str, message: BotMessage) -> None:
        """Push ``message`` to the taxpayer through every instance's subscribers (not stored here)."""
        await self.effects.to_taxpayer(conv_id, message)

    async def create_ticket(self, conv_id: str, message: str, method: str, contact: Optional[str]) -> TicketReceipt:
        """Leave an offline message for the officers (the WeChat channel's ticket prompt)."""
        return await self.taxpayers.create_ticket(conv_id, message, method, contact)

    async def before_turn(self, turn: Turn) -> Optional[List[BotMessage]]:
        """Messages the gateway answers itself (not Rasa): the cancel button's payload."""
        try:
            return await self.taxpayers.before_turn(turn)
        except Exception as exc:
            log.error("handoff cancel failed: %s", type(exc).__name__)
            self.on_error("handoff")
            return None

    async def after_turn(self, turn: Turn, replies: Sequence[BotMessage]) -> List[BotMessage]:
        """Escalate when the policy says so, or relay to the officer; a store failure never costs the bot's answer."""
        try:
            return await self.taxpayers.after_turn(turn, replies)
        except Exception as exc:
            log.error("handoff step failed: %s", type(exc).__name__)
            self.on_error("handoff")
            return []
