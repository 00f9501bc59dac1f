"""Shared handoff state: the queue, claims, presence, routes and event fan-out.

Two implementations of one interface (``HandoffStore``):

- ``MemoryHandoffStore`` for the embedded default (one gateway process, no REDIS_URL);
- ``RedisHandoffStore`` for several gateway instances sharing one Redis. Every state change that
  must not race (enqueue, claim, release) is one Lua script, so it is atomic on the server:
  two agents can never claim the same conversation, an agent never exceeds their capacity.

Redis keys (``prefix`` defaults to ``taxguide:handoff:``):

  {p}conv:{id}          hash  status (queued|claimed|returned|resolved|abandoned), reason, topic, language,
                              channel, queued_at, requested_at, claimed_at, agent, priority, summary (JSON)
  {p}queue              zset  waiting conversation ids; score = queued_at in ms (minus 1e13 when priority)
  {p}agent:{name}       set   conversation ids the agent holds
  {p}claimed            hash  conversation id -> agent, for the sweeper
  {p}route:{id}         string "agent" while an agent answers (absent = the bot answers)
  {p}presence:{name}    string JSON {status, since}; expires after presence.ttl_seconds without heartbeat
  {p}events             pub/sub channel; JSON events fanned out to every gateway instance
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, AsyncIterator, Dict, List, Optional, Protocol, Tuple

from bot.routing import Route

log = logging.getLogger(__name__)
QUEUED, CLAIMED = "queued", "claimed"
OPEN_STATES = (QUEUED, CLAIMED)
PRIORITY_BOOST_MS = 1e13


def now_ts() -> float:
    return time.time()


def queue_score(queued_at: float, priority: bool) -> float:
    return queued_at * 1000.0 - (PRIORITY_BOOST_MS if priority else 0.0)


class ClaimResult:
    CLAIMED = "claimed"
    TAKEN = "taken"  # another agent holds it
    NOT_WAITING = "not_waiting"  # closed, cancelled or never queued
    CAPACITY = "capacity"  # the agent holds their maximum


class HandoffStore(Protocol):
    async def enqueue(self, conv_id: str, fields: Dict[str, Any], priority: bool = False) -> Tuple[bool, Dict[str, Any]]:
        """Queue a conversation unless it is already queued or claimed; returns (new, record)."""

    async def get(self, conv_id: str) -> Optional[Dict[str, Any]]: ...

    async def waiting(self) -> List[Dict[str, Any]]:
        """Queued conversations, priority first, then oldest first."""

    async def position(self, conv_id: str) -> Optional[int]:
        """1-based queue position, or None when not waiting."""

    async def claim(self, conv_id: str, agent: str, capacity: int) -> str: ...

    async def release(self, conv_id: str, agent: Optional[str], outcome: str, priority: bool = False) -> bool:
        """End a claim (outcome returned|resolved|queue) by its agent, or abandon (agent None) a queued or
        claimed conversation. Returns False when the conversation is not in a state that allows it."""

    async def claimed_by(self, agent: str) -> List[str]: ...

    async def claims(self) -> Dict[str, str]:
        """conversation id -> agent of every claimed conversation."""

    async def set_presence(self, agent: str, status: str, ttl: float) -> None: ...

    async def get_presence(self, agent: str) -> Optional[str]: ...

    async def drop_presence(self, agent: str) -> None: ...

    async def presence(self) -> Dict[str, str]:
        """agent -> status (online|away) of every agent with a live presence."""

    async def get_route(self, conv_id: str) -> Route: ...

    async def set_route(self, conv_id: str, route: Route) -> None: ...

    async def publish(self, event: Dict[str, Any]) -> None: ...

    def subscribe(self) -> "Subscription":
        """``async with store.subscribe() as sub: event = await sub.get()`` (subscribed on enter)."""

    async def close(self) -> None: ...


class StoreRouting:
    """The gateway's RoutingService over the shared store (so every instance agrees on the route)."""

    def __init__(self, store: HandoffStore) -> None:
        self.store = store

    async def get(self, conversation_id: str) -> Route:
        try:
            return await self.store.get_route(conversation_id)
        except Exception as exc:  # shared state down: fail open to the bot, never lose the taxpayer
            log.warning("handoff route unavailable (%s); the bot answers", type(exc).__name__)
            return Route.BOT

    async def set(self, conversation_id: str, route: Route) -> None:
        await self.store.set_route(conversation_id, Route(route))


def _decode(record: Dict[Any, Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for key, value in record.items():
        key = key.decode() if isinstance(key, bytes) else key
        value = value.decode() if isinstance(value, bytes) else value
        out[key] = value
    for name in ("queued_at", "claimed_at", "requested_at"):
        if out.get(name) not in (None, ""):
            out[name] = float(out[name])
        else:
            out[name] = None
    out["priority"] = str(out.get("priority", "0")) == "1"
    summary = out.get("summary")
    out["summary"] = json.loads(summary) if isinstance(summary, str) and summary else []
    out["agent"] = out.get("agent") or None
    return out


def _encode(fields: Dict[str, Any]) -> Dict[str, str]:
    out = {}
    for key, value in fields.items():
        if key == "summary":
            value = json.dumps(value or [], ensure_ascii=False)
        elif isinstance(value, bool):
            value = "1" if value else "0"
        out[key] = "" if value is None else str(value)
    return out


# --------------------------------------------------------------------------- in process


class MemoryHandoffStore:
    """Handoff state of one gateway process. Methods do not await between check and change,
    so on one event loop they are atomic like the Redis scripts."""

    def __init__(self) -> None:
        self._convs: Dict[str, Dict[str, str]] = {}
        self._agents: Dict[str, set] = {}
        self._presence: Dict[str, Tuple[str, float]] = {}
        self._routes: Dict[str, Route] = {}
        self._subscribers: List[asyncio.Queue] = []

    async def enqueue(self, conv_id: str, fields: Dict[str, Any], priority: bool = False) -> Tuple[bool, Dict[str, Any]]:
        current = self._convs.get(conv_id)
        if current is not None and current.get("status") in OPEN_STATES:
            return False, _decode(current)
        record = _encode(fields)
        record.update(id=conv_id, status=QUEUED, agent="", priority="1" if priority else "0")
        record.setdefault("queued_at", str(now_ts()))
        self._convs[conv_id] = record
        return True, _decode(record)

    async def get(self, conv_id: str) -> Optional[Dict[str, Any]]:
        record = self._convs.get(conv_id)
        return _decode(record) if record is not None else None

    async def waiting(self) -> List[Dict[str, Any]]:
        items = [_decode(r) for r in self._convs.values() if r.get("status") == QUEUED]
        items.sort(key=lambda r: queue_score(r["queued_at"] or 0.0, r["priority"]))
        return items

    async def position(self, conv_id: str) -> Optional[int]:
        for index, record in enumerate(await self.waiting(), start=1):
            if record["id"] == conv_id:
                return index
        return None

    async def claim(self, conv_id: str, agent: str, capacity: int) -> str:
        record = self._convs.get(conv_id)
        if record is None or record.get("status") not in OPEN_STATES:
            return ClaimResult.NOT_WAITING
        if record["status"] == CLAIMED:
            return ClaimResult.TAKEN
        held = self._agents.setdefault(agent, set())
        if capacity > 0 and len(held) >= capacity:
            return ClaimResult.CAPACITY
        record.update(status=CLAIMED, agent=agent, claimed_at=str(now_ts()))
        held.add(conv_id)
        self._routes[conv_id] = Route.AGENT
        return ClaimResult.CLAIMED

    async def release(self, conv_id: str, agent: Optional[str], outcome: str, priority: bool = False) -> bool:
        record = self._convs.get(conv_id)
        if record is None:
            return False
        status, holder = record.get("status"), record.get("agent") or ""
        if agent is None:  # the taxpayer cancels
            if status not in OPEN_STATES:
                return False
        elif status != CLAIMED or holder != agent:
            return False
        if holder:
            self._agents.get(holder, set()).discard(conv_id)
        self._routes.pop(conv_id, None)
        if outcome == "queue":
            record.update(status=QUEUED, agent="", priority="1" if priority else record.get("priority", "0"))
        else:
            record.update(status=outcome)
        return True

    async def claimed_by(self, agent: str) -> List[str]:
        return sorted(self._agents.get(agent, set()))

    async def claims(self) -> Dict[str, str]:
        return {cid: r["agent"] for cid, r in self._convs.items() if r.get("status") == CLAIMED}

    async def set_presence(self, agent: str, status: str, ttl: float) -> None:
        self._presence[agent] = (status, time.monotonic() + ttl)

    async def get_presence(self, agent: str) -> Optional[str]:
        entry = self._presence.get(agent)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    async def drop_presence(self, agent: str) -> None:
        self._presence.pop(agent, None)

    async def presence(self) -> Dict[str, str]:
        now = time.monotonic()
        return {a: s for a, (s, until) in self._presence.items() if until >= now}

    async def get_route(self, conv_id: str) -> Route:
        return self._routes.get(conv_id, Route.BOT)

    async def set_route(self, conv_id: str, route: Route) -> None:
        if Route(route) is Route.BOT:
            self._routes.pop(conv_id, None)
        else:
            self._routes[conv_id] = Route(route)

    async def publish(self, event: Dict[str, Any]) -> None:
        data = json.loads(json.dumps(event, default=str))
        for queue in list(self._subscribers):
            queue.put_nowait(data)

    def subscribe(self) -> "MemorySubscription":
        return MemorySubscription(self._subscribers)

    async def close(self) -> None:
        return None


# --------------------------------------------------------------------------- Redis

_ENQUEUE = """
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'queued' or status == 'claimed' then return 0 end
redis.call('DEL', KEYS[1])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[1], 'status', 'queued', 'agent', '')
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
"""

# KEYS: conv hash, queue, agent set, route, claimed hash; ARGV: id, agent, capacity, now
_CLAIM = """
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'claimed' then return 'taken' end
if status ~= 'queued' then return 'not_waiting' end
local capacity = tonumber(ARGV[3])
if capacity > 0 and redis.call('SCARD', KEYS[3]) >= capacity then return 'capacity' end
redis.call('HSET', KEYS[1], 'status', 'claimed', 'agent', ARGV[2], 'claimed_at', ARGV[4])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[5], ARGV[1], ARGV[2])
redis.call('SET', KEYS[4], 'agent')
return 'claimed'
"""

# KEYS: conv hash, queue, route, claimed hash; ARGV: id, agent ('' = taxpayer cancels), outcome, priority, prefix
_RELEASE = """
local status = redis.call('HGET', KEYS[1], 'status')
local holder = redis.call('HGET', KEYS[1], 'agent') or ''
if ARGV[2] == '' then
  if status ~= 'queued' and status ~= 'claimed' then return 0 end
else
  if status ~= 'claimed' or holder ~= ARGV[2] then return 0 end
end
if holder ~= '' then redis.call('SREM', ARGV[5] .. 'agent:' .. holder, ARGV[1]) end
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('DEL', KEYS[3])
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[3] == 'queue' then
  local priority = ARGV[4]
  if priority ~= '1' then priority = redis.call('HGET', KEYS[1], 'priority') or '0' end
  local queued_at = tonumber(redis.call('HGET', KEYS[1], 'queued_at') or '0')
  local score = queued_at * 1000
  if priority == '1' then score = score - 1e13 end
  redis.call('HSET', KEYS[1], 'status', 'queued', 'agent', '', 'priority', priority)
  redis.call('ZADD', KEYS[2], score, ARGV[1])
else
  redis.call('HSET', KEYS[1], 'status', ARGV[3])
  redis.call('EXPIRE', KEYS[1], 604800)
end
return 1
"""


class RedisHandoffStore:
    """Handoff state in Redis, shared by every gateway instance using the same prefix."""

    def __init__(self, url: str, prefix: str = "taxguide:handoff:", timeout: float = 5.0) -> None:
        import redis.asyncio as aioredis

        self.prefix = prefix
        self._url = url
        self._redis = aioredis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        # pub/sub blocks on reads: its own connection without a read timeout
        self._pubsub_client = aioredis.from_url(url, socket_connect_timeout=timeout)
        self._enqueue = self._redis.register_script(_ENQUEUE)
        self._claim = self._redis.register_script(_CLAIM)
        self._release = self._redis.register_script(_RELEASE)

    def _k(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def enqueue(self, conv_id: str, fields: Dict[str, Any], priority: bool = False) -> Tuple[bool, Dict[str, Any]]:
        fields = dict(fields)
        fields.setdefault("queued_at", now_ts())
        fields["priority"] = priority
        fields["id"] = conv_id
        encoded = _encode(fields)
        argv: List[str] = [conv_id, repr(queue_score(float(encoded["queued_at"]), priority))]
        for key, value in encoded.items():
            argv += [key, value]
        created = await self._enqueue(keys=[self._k("conv", conv_id), self._k("queue")], args=argv)
        return bool(created), (await self.get(conv_id)) or {}

    async def get(self, conv_id: str) -> Optional[Dict[str, Any]]:
        record = await self._redis.hgetall(self._k("conv", conv_id))
        return _decode(record) if record else None

    async def waiting(self) -> List[Dict[str, Any]]:
        ids = [i.decode() for i in await self._redis.zrange(self._k("queue"), 0, -1)]
        if not ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for conv_id in ids:
                pipe.hgetall(self._k("conv", conv_id))
            records = await pipe.execute()
        return [_decode(r) for r in records if r and _decode(r).get("status") == QUEUED]

    async def position(self, conv_id: str) -> Optional[int]:
        rank = await self._redis.zrank(self._k("queue"), conv_id)
        return None if rank is None else int(rank) + 1

    async def claim(self, conv_id: str, agent: str, capacity: int) -> str:
        result = await self._claim(
            keys=[self._k("conv", conv_id), self._k("queue"), self._k("agent", agent), self._k("route", conv_id),
                  self._k("claimed")],
            args=[conv_id, agent, int(capacity), repr(now_ts())],
        )
        return result.decode() if isinstance(result, bytes) else str(result)

    async def release(self, conv_id: str, agent: Optional[str], outcome: str, priority: bool = False) -> bool:
        done = await self._release(
            keys=[self._k("conv", conv_id), self._k("queue"), self._k("route", conv_id), self._k("claimed")],
            args=[conv_id, agent or "", outcome, "1" if priority else "0", self.prefix],
        )
        return bool(done)

    async def claimed_by(self, agent: str) -> List[str]:
        return sorted(m.decode() for m in await self._redis.smembers(self._k("agent", agent)))

    async def claims(self) -> Dict[str, str]:
        raw = await self._redis.hgetall(self._k("claimed"))
        return {k.decode(): v.decode() for k, v in raw.items()}

    async def set_presence(self, agent: str, status: str, ttl: float) -> None:
        value = json.dumps({"status": status, "since": now_ts()})
        await self._redis.set(self._k("presence", agent), value, px=max(1, int(ttl * 1000)))

    async def get_presence(self, agent: str) -> Optional[str]:
        raw = await self._redis.get(self._k("presence", agent))
        return json.loads(raw)["status"] if raw else None

    async def drop_presence(self, agent: str) -> None:
        await self._redis.delete(self._k("presence", agent))

    async def presence(self) -> Dict[str, str]:
        out: Dict[str, str] = {}
        prefix = self._k("presence", "")
        async for key in self._redis.scan_iter(match=prefix + "*", count=200):
            raw = await self._redis.get(key)
            if raw:
                out[key.decode()[len(prefix):]] = json.loads(raw)["status"]
        return out

    async def get_route(self, conv_id: str) -> Route:
        raw = await self._redis.get(self._k("route", conv_id))
        return Route.AGENT if raw == b"agent" else Route.BOT

    async def set_route(self, conv_id: str, route: Route) -> None:
        if Route(route) is Route.BOT:
            await self._redis.delete(self._k("route", conv_id))
        else:
            await self._redis.set(self._k("route", conv_id), Route(route).value)

    async def publish(self, event: Dict[str, Any]) -> None:
        await self._redis.publish(self._k("events"), json.dumps(event, default=str, ensure_ascii=False))

    def subscribe(self) -> "RedisSubscription":
        return RedisSubscription(self._pubsub_client, self._k("events"))

    async def ping(self) -> None:
        await self._redis.ping()

    async def delete_all(self) -> None:
        """Remove every key of this prefix (tests)."""
        async for key in self._redis.scan_iter(match=self.prefix + "*", count=500):
            await self._redis.delete(key)

    async def close(self) -> None:
        await self._redis.close(close_connection_pool=True)
        await self._pubsub_client.close(close_connection_pool=True)


class Subscription(Protocol):
    async def __aenter__(self) -> "Subscription": ...

    async def __aexit__(self, *exc: Any) -> None: ...

    async def get(self) -> Dict[str, Any]: ...


class MemorySubscription:
    def __init__(self, subscribers: List[asyncio.Queue]) -> None:
        self._subscribers = subscribers
        self._queue: asyncio.Queue = asyncio.Queue()

    async def __aenter__(self) -> "MemorySubscription":
        self._subscribers.append(self._queue)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._queue in self._subscribers:
            self._subscribers.remove(self._queue)

    async def get(self) -> Dict[str, Any]:
        return await self._queue.get()


class RedisSubscription:
    def __init__(self, client: Any, channel: str) -> None:
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        self._channel = channel

    async def __aenter__(self) -> "RedisSubscription":
        await self._pubsub.subscribe(self._channel)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self._pubsub.unsubscribe()
            await self._pubsub.close()
        except Exception:
            pass

    async def get(self) -> Dict[str, Any]:
        while True:
            message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None:
                continue
            try:
                return json.loads(message["data"])
            except (ValueError, TypeError):
                continue
