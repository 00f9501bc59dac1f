"""Every instance's background work: deliver the store's events to local clients, and sweep.

Each change is published on the store's channel; every gateway instance's ``Fanout.listen`` receives
it and delivers it to the taxpayers (through the ``TaxpayerSubscriber`` channels: sockets, WeChat) and
the officers' consoles connected to that instance.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Dict, List, Optional, Protocol

from bot.handoff.agent import AgentSide
from bot.handoff.console import Console
from bot.handoff.model import Event, EventType, Status
from bot.handoff.store import HandoffStore

log = logging.getLogger(__name__)

RESUBSCRIBE_SECONDS = 1.0


class TaxpayerSubscriber(Protocol):
    """A channel that reaches its taxpayers outside a turn (``bot.socket_channel.SocketTaxpayers``, WeChat).

    Called on every gateway instance for each message to a taxpayer (officer, handoff notices, the survey)
    and each queue-position update; it ignores conversations that are not its own and makes sure only
    one instance sends (``event_id`` is the same on every instance).
    """

    async def taxpayer_message(self, conversation_id: str, message: Dict[str, Any], event_id: Optional[str]) -> None:
        """Deliver ``message`` to the taxpayer if they are reached through this channel."""
        ...

    async def taxpayer_status(self, conversation_id: str, status: Dict[str, Any]) -> None:
        """Deliver a queue-position update (``{"status": "queued", "position": n}``)."""
        ...


class Fanout:
    """Delivers published handoff events to this instance's taxpayer channels and consoles."""

    def __init__(self, store: HandoffStore, console: Console, on_error: Callable[[str], None]) -> None:
        self.store = store
        self.console = console
        self.on_error = on_error
        self.subscribers: List[TaxpayerSubscriber] = []

    async def dispatch(self, event: Event) -> None:
        """Deliver one event to the subscribers and consoles on this instance."""
        kind = event.get("type")
        if kind == EventType.TO_TAXPAYER.value:
            for subscriber in self.subscribers:
                await self._notify(subscriber.taxpayer_message(event["conversation_id"], event["message"],
                                                               event.get("event_id")))
        elif kind == EventType.TO_AGENT.value:
            await self.console.send(event.get("agent") or "", {
                "type": "conversation", "conversation_id": event["conversation_id"], "message": event.get("message"),
                "closed": event.get("closed")})
        elif kind == EventType.QUEUE_CHANGED.value:
            for position, record in enumerate(await self.store.waiting(), start=1):
                for subscriber in self.subscribers:
                    await self._notify(subscriber.taxpayer_status(
                        record.id, {"status": Status.QUEUED.value, "position": position}))
            for agent in self.console.agents_here():
                await self.console.send(agent, await self.console.snapshot(agent))
        elif kind == EventType.TICKETS_CHANGED.value:
            for agent in self.console.agents_here():
                await self.console.send(agent, {"type": EventType.TICKETS_CHANGED.value})

    async def _notify(self, delivery: Awaitable[None]) -> None:
        try:
            await delivery
        except Exception as exc:  # one channel's failure never stops the others
            log.error("handoff delivery to a subscriber failed: %s", type(exc).__name__)
            self.on_error("handoff")

    async def listen(self, ready: asyncio.Event) -> None:
        """Dispatch the store's events until cancelled; set ``ready`` once subscribed; resubscribe on errors."""
        while True:
            try:
                async with self.store.subscribe() as subscription:
                    ready.set()
                    while True:
                        event = await subscription.get()
                        try:
                            await self.dispatch(event)
                        except Exception:
                            log.exception("handoff event dispatch failed")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                ready.set()  # do not hold up start-up; keep retrying in the background
                log.warning("handoff subscription lost (%s); retrying", type(exc).__name__)
                self.on_error("redis")
                await asyncio.sleep(RESUBSCRIBE_SECONDS)


async def sweep_forever(agents: AgentSide, interval: float) -> None:
    """Every ``interval`` seconds requeue the conversations of officers whose presence expired."""
    while True:
        await asyncio.sleep(interval)
        try:
            await agents.sweep()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("handoff sweep failed: %s", type(exc).__name__)
