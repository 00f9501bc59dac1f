"""Shared handoff state: the queue, claims, presence, routes and event fan-out.

One interface (``base.HandoffStore``) with two implementations: ``MemoryHandoffStore`` for one gateway
process (no REDIS_URL) and ``RedisHandoffStore`` for several instances sharing one Redis.
"""
from bot.handoff.store.base import HandoffStore, Subscription, queue_score
from bot.handoff.store.memory import MemoryHandoffStore
from bot.handoff.store.redis import RedisHandoffStore
from bot.handoff.store.routing import StoreRouting

__all__ = ["HandoffStore", "MemoryHandoffStore", "RedisHandoffStore", "StoreRouting", "Subscription", "queue_score"]
