"""Talks to Rasa's REST webhook and merges its split bot messages."""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from typing import Any, AsyncIterator, Dict, List, Optional, Sequence, Tuple, Union

import aiohttp

log = logging.getLogger(__name__)

BotMessage = Dict[str, Any]


class UpstreamError(Exception):
    """Rasa could not be reached or answered badly; ``kind`` labels the metric."""

    def __init__(self, kind: str, detail: str, refused: bool = False) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.refused = refused  # no connection was made: the message cannot have reached Rasa


def merge_custom(items: List[BotMessage]) -> List[BotMessage]:
    """Fold a custom-only item into the preceding text item of the same reply.

    Rasa's REST output sends ``utter_message(text=..., json_message=...)`` as two
    list items; the client should get one message with text, buttons and custom.
    """
    merged: List[BotMessage] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        item = dict(item)
        custom_only = "custom" in item and not any(
            key in item for key in ("text", "image", "attachment", "buttons", "elements")
        )
        previous = merged[-1] if merged else None
        if (
            custom_only
            and previous is not None
            and "text" in previous
            and "custom" not in previous
            and previous.get("recipient_id") == item.get("recipient_id")
        ):
            previous["custom"] = item["custom"]
            continue
        merged.append(item)
    return merged


def _weight(worker: str, conversation_id: str) -> int:
    digest = hashlib.blake2b(f"{worker}\n{conversation_id}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def rank_workers(workers: Sequence[str], conversation_id: str) -> List[str]:
    """The workers in the order a conversation tries them: rendezvous (highest-random-weight) hashing.

    Every gateway process ranks the same way, so a conversation sticks to its first worker and, when
    that one is down, every gateway fails over to the same second one.
    """
    return sorted(workers, key=lambda worker: _weight(worker, conversation_id), reverse=True)


def pick_worker(workers: Sequence[str], conversation_id: str) -> str:
    """The worker a conversation sticks to (the first of ``rank_workers``).

    Stable across gateway processes and restarts, and consistent: adding or removing a worker only
    moves the conversations that belonged to that worker.
    """
    if len(workers) == 1:
        return workers[0]
    return max(workers, key=lambda worker: _weight(worker, conversation_id))


class _TurnLocks:
    """One lock per conversation with messages in flight, so its turns reach Rasa in arrival order.

    Locks are dropped as soon as no message of the conversation is waiting, so the table stays small.
    """

    def __init__(self) -> None:
        self._locks: Dict[str, Tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, conversation_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(conversation_id, (asyncio.Lock(), 0))
        self._locks[conversation_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[conversation_id]
            if users <= 1:
                del self._locks[conversation_id]
            else:
                self._locks[conversation_id] = (lock, users - 1)


class RasaClient:
    """Forwards taxpayer messages to Rasa's REST channel.

    With several Rasa workers every conversation sticks to one of them (``pick_worker``), so a worker's
    in-memory tracker store always holds the whole conversation; with Redis stores the stickiness keeps
    the lock store uncontended. A worker that refuses the connection is skipped for ``down_seconds``
    and the conversation goes to its next worker in ``rank_workers`` order (with the Redis tracker
    store it keeps its context there). Only a refused connection fails over: a timeout may mean the
    message was processed, so it is never sent twice. Messages of one conversation are sent one at a
    time, in arrival order.
    """

    def __init__(
        self, session: aiohttp.ClientSession, base_url: Union[str, Sequence[str]], timeout: aiohttp.ClientTimeout,
        down_seconds: float = 5.0,
    ) -> None:
        self._session = session
        bases = [base_url] if isinstance(base_url, str) else list(base_url)
        if not bases:
            raise ValueError("at least one Rasa URL is needed")
        self.workers: Tuple[str, ...] = tuple(b.rstrip("/") for b in bases)
        self._timeout = timeout
        self._turns = _TurnLocks()
        self.down_seconds = down_seconds
        self._down_until: Dict[str, float] = {}

    def worker_for(self, conversation_id: str) -> str:
        """The base URL of the Rasa worker that owns this conversation."""
        return pick_worker(self.workers, conversation_id)

    async def send(
        self, sender: str, text: str, metadata: Optional[Dict[str, Any]] = None, input_channel: str = "rest"
    ) -> List[BotMessage]:
        """Post one message to the conversation's worker; return Rasa's reply with custom items merged."""
        async with self._turns.hold(sender):
            now = time.monotonic()
            ranked = rank_workers(self.workers, sender)
            candidates = [w for w in ranked if self._down_until.get(w, 0.0) <= now] or ranked
            for index, worker in enumerate(candidates):
                try:
                    return await self._post(worker + "/webhooks/rest/webhook", sender, text, metadata, input_channel)
                except UpstreamError as exc:
                    if not exc.refused or index == len(candidates) - 1:
                        raise
                    self._down_until[worker] = time.monotonic() + self.down_seconds
                    log.warning("rasa worker %s refused the connection; trying the next one", worker)
            raise AssertionError("unreachable: the last candidate raises")  # pragma: no cover

    def is_down(self, worker: str) -> bool:
        """Whether ``worker`` refused a connection within the last ``down_seconds``."""
        return self._down_until.get(worker, 0.0) > time.monotonic()

    async def _post(
        self, url: str, sender: str, text: str, metadata: Optional[Dict[str, Any]], input_channel: str
    ) -> List[BotMessage]:
        body = {"sender": sender, "message": text, "metadata": metadata or {}, "input_channel": input_channel}
        try:
            async with self._session.post(url, json=body, timeout=self._timeout) as resp:
                if resp.status != 200:
                    raise UpstreamError("rasa_status", f"HTTP {resp.status}")
                data = await resp.json(content_type=None)
        except asyncio.TimeoutError:
            raise UpstreamError("rasa_timeout", "no reply in time") from None
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamError("rasa_unreachable", type(exc).__name__, refused=True) from None
        except aiohttp.ClientError as exc:
            raise UpstreamError("rasa_unreachable", type(exc).__name__) from None
        except ValueError:
            raise UpstreamError("rasa_bad_reply", "reply is not JSON") from None
        if not isinstance(data, list):
            raise UpstreamError("rasa_bad_reply", "reply is not a list")
        return merge_custom(data)
