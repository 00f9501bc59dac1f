"""The handoff store in Redis, shared by every gateway instance using the same key prefix.

Every change that must not race (enqueue, claim, release) is one Lua script (``*.lua`` beside this
module), so it is atomic on the server: two agents never claim the same conversation and an agent
never exceeds their capacity. Queue scores come from ``base.queue_score``; the scripts only store them.

Keys (``prefix`` defaults to ``taxguide:handoff:``):

  {p}conv:{id}          hash  status (queued|claimed|returned|resolved|abandoned), reason, topic, language,
                              channel, queued_at, requested_at, claimed_at, agent, priority, summary (JSON)
  {p}queue              zset  waiting conversation ids, scored by ``queue_score``
  {p}agent:{name}       set   conversation ids the agent holds
  {p}claimed            hash  conversation id -> agent, for the sweeper
  {p}route:{id}         string "agent" while an agent answers (absent = the bot answers)
  {p}presence:{name}    string JSON {status, since}; expires after presence.ttl_seconds without heartbeat
  {p}events             pub/sub channel; JSON events fanned out to every gateway instance
"""
from __future__ import annotations

import contextlib
import functools
import json
from dataclasses import replace
from importlib import resources
from typing import Any, Dict, List, Optional, Tuple

import redis.asyncio as aioredis

from bot.handoff.model import ClaimResult, Event, HandoffRecord, Presence, Status
from bot.handoff.store.base import decode, encode, now_ts, queue_score
from bot.routing import Route


@functools.lru_cache(maxsize=None)
def lua(name: str) -> str:
    """The source of the Lua script ``<name>.lua`` shipped with this package."""
    return resources.files("bot.handoff.store").joinpath(f"{name}.lua").read_text(encoding="utf-8")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisSubscription:
    """A subscription to the store's pub/sub channel on its own connection."""

    def __init__(self, client: aioredis.Redis[bytes], channel: str) -> None:
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        self._channel = channel

    async def __aenter__(self) -> RedisSubscription:
        await self._pubsub.subscribe(self._channel)
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):  # the connection may already be gone
            await self._pubsub.unsubscribe()
            await self._pubsub.close()

    async def get(self) -> Event:
        """The next JSON object published on the channel (anything else is skipped)."""
        while True:
            message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None:
                continue
            try:
                event = json.loads(message["data"])
            except (ValueError, TypeError):
                continue
            if isinstance(event, dict):
                return event


class RedisHandoffStore:
    """Handoff state in Redis, shared by every gateway instance using the same prefix."""

    def __init__(self, url: str, prefix: str = "taxguide:handoff:", timeout: float = 5.0) -> None:
        self.prefix = prefix
        self._redis: aioredis.Redis[bytes] = aioredis.from_url(url, socket_connect_timeout=timeout,
                                                               socket_timeout=timeout)
        # pub/sub blocks on reads: its own connection without a read timeout
        self._pubsub_client: aioredis.Redis[bytes] = aioredis.from_url(url, socket_connect_timeout=timeout)
        self._enqueue = self._redis.register_script(lua("enqueue"))
        self._claim = self._redis.register_script(lua("claim"))
        self._release = self._redis.register_script(lua("release"))

    def _k(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def enqueue(self, record: HandoffRecord) -> Tuple[bool, HandoffRecord]:
        """Queue ``record`` unless its conversation is queued or claimed; returns (created, current record)."""
        queued_at = record.queued_at if record.queued_at is not None else now_ts()
        fields = encode(replace(record, status=Status.QUEUED, agent=None, queued_at=queued_at))
        argv: List[str] = [record.id, repr(queue_score(queued_at, record.priority))]
        for key, value in fields.items():
            argv += [key, value]
        created = await self._enqueue(keys=[self._k("conv", record.id), self._k("queue")], args=argv)
        current = await self.get(record.id)
        return bool(created), current if current is not None else decode(fields)

    async def get(self, conv_id: str) -> Optional[HandoffRecord]:
        """The conversation's record, or None."""
        fields = await self._redis.hgetall(self._k("conv", conv_id))
        return decode(fields) if fields else None

    async def waiting(self) -> List[HandoffRecord]:
        """Queued conversations in score order."""
        ids = [_text(i) for i in await self._redis.zrange(self._k("queue"), 0, -1)]
        if not ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for conv_id in ids:
                pipe.hgetall(self._k("conv", conv_id))
            hashes = await pipe.execute()
        records = [decode(fields) for fields in hashes if fields]
        return [r for r in records if r.status is Status.QUEUED]

    async def position(self, conv_id: str) -> Optional[int]:
        """1-based queue position, or None when not waiting."""
        rank = await self._redis.zrank(self._k("queue"), conv_id)
        return None if rank is None else int(rank) + 1

    async def claim(self, conv_id: str, agent: str, capacity: int) -> ClaimResult:
        """Give a queued conversation to ``agent`` (one script: no double claim, capacity kept)."""
        result = await self._claim(
            keys=[self._k("conv", conv_id), self._k("queue"), self._k("agent", agent), self._k("route", conv_id),
                  self._k("claimed")],
            args=[conv_id, agent, int(capacity), repr(now_ts())],
        )
        return ClaimResult(_text(result))

    async def release(self, conv_id: str, agent: Optional[str], outcome: Status, priority: bool = False) -> bool:
        """End a claim or abandon a handoff (one script; a requeue keeps the queued time it scored)."""
        args = [conv_id, agent or "", outcome.value, self.prefix]
        if outcome is Status.QUEUED:
            queued_at, stored = await self._redis.hmget(self._k("conv", conv_id), "queued_at", "priority")
            queued_text = _text(queued_at) if queued_at is not None else ""
            first = priority or stored == b"1"
            args += ["1" if first else "0", repr(queue_score(float(queued_text or 0.0), first)), queued_text]
        done = await self._release(
            keys=[self._k("conv", conv_id), self._k("queue"), self._k("route", conv_id), self._k("claimed")],
            args=args,
        )
        return bool(done)

    async def claimed_by(self, agent: str) -> List[str]:
        """The conversation ids ``agent`` holds, sorted."""
        return sorted(_text(m) for m in await self._redis.smembers(self._k("agent", agent)))

    async def claims(self) -> Dict[str, str]:
        """Conversation id -> agent of every claimed conversation."""
        raw = await self._redis.hgetall(self._k("claimed"))
        return {_text(k): _text(v) for k, v in raw.items()}

    async def set_presence(self, agent: str, status: Presence, ttl: float) -> None:
        """Set ``agent``'s presence; the key expires after ``ttl`` seconds."""
        value = json.dumps({"status": Presence(status).value, "since": now_ts()})
        await self._redis.set(self._k("presence", agent), value, px=max(1, int(ttl * 1000)))

    async def get_presence(self, agent: str) -> Optional[Presence]:
        """``agent``'s live presence, or None."""
        raw = await self._redis.get(self._k("presence", agent))
        return Presence(json.loads(raw)["status"]) if raw else None

    async def drop_presence(self, agent: str) -> None:
        """Forget ``agent``'s presence."""
        await self._redis.delete(self._k("presence", agent))

    async def presence(self) -> Dict[str, Presence]:
        """Agent -> presence of every live presence key."""
        out: Dict[str, Presence] = {}
        prefix = self._k("presence", "")
        async for key in self._redis.scan_iter(match=prefix + "*", count=200):
            raw = await self._redis.get(key)
            if raw:
                out[_text(key)[len(prefix):]] = Presence(json.loads(raw)["status"])
        return out

    async def get_route(self, conv_id: str) -> Route:
        """Who answers the conversation."""
        raw = await self._redis.get(self._k("route", conv_id))
        return Route.AGENT if raw == b"agent" else Route.BOT

    async def set_route(self, conv_id: str, route: Route) -> None:
        """Set who answers the conversation (the bot: the key is deleted)."""
        if Route(route) is Route.BOT:
            await self._redis.delete(self._k("route", conv_id))
        else:
            await self._redis.set(self._k("route", conv_id), Route(route).value)

    async def publish(self, event: Event) -> None:
        """Publish ``event`` as JSON to every instance."""
        await self._redis.publish(self._k("events"), json.dumps(event, default=str, ensure_ascii=False))

    def subscribe(self) -> RedisSubscription:
        """A subscription on the pub/sub connection."""
        return RedisSubscription(self._pubsub_client, self._k("events"))

    async def delete_all(self) -> None:
        """Remove every key of this prefix (tests and benchmarks)."""
        async for key in self._redis.scan_iter(match=self.prefix + "*", count=500):
            await self._redis.delete(key)

    async def close(self) -> None:
        """Close both connection pools."""
        await self._redis.close(close_connection_pool=True)
        await self._pubsub_client.close(close_connection_pool=True)
