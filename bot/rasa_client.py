"""Talks to Rasa's REST webhook and merges its split bot messages."""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from collections import OrderedDict
from typing import Any, AsyncIterator, Dict, List, NamedTuple, Optional, Sequence, Set, Tuple, Union
from urllib.parse import quote

import aiohttp

from bot.rasa_probe import WorkerPool
from bot.tasks import cancel_all

log = logging.getLogger(__name__)

RESTART = "/restart"  # Rasa's default intent: action_restart resets the conversation's tracker
TURN_KEY = "taxguide_turn"  # metadata key marking each turn, to find a timed-out one in the tracker
# Rasa 3.6 waits up to 300 s for each custom action (rasa.core.constants.DEFAULT_REQUEST_TIMEOUT, not
# configurable in endpoints.yml): a timed-out turn may still be applied that long after, plus its NLU.
REVERT_SECONDS = 330.0
MAX_PLACED = 100_000
MAX_REVERTS = 1000

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


class Reply(NamedTuple):
    """Rasa's reply to one turn; ``restarted`` when the conversation had to restart on another worker."""

    messages: List[BotMessage]
    restarted: bool = False


class RasaClient:
    """Forwards taxpayer messages to Rasa's REST channel.

    With several Rasa workers every conversation sticks to one of them (``rank_workers``), so a worker's
    in-memory tracker store always holds the whole conversation; with Redis stores the stickiness keeps
    the lock store uncontended. A worker out of the ``WorkerPool`` rotation (the prober, a timed-out
    turn) or that refuses the connection (skipped for ``down_seconds``) is passed over: the conversation
    goes to its next worker in ``rank_workers`` order. With ``shared_context`` (Redis tracker store) it
    continues there; otherwise its context stayed on the other worker, so the gateway first sends
    ``/restart`` there and ``Reply.restarted`` tells the caller. A timed-out turn is never sent twice; it
    is reverted in Rasa once applied (``revert_turns``). Turns of one conversation go one at a time, in
    arrival order.
    """

    def __init__(
        self, session: aiohttp.ClientSession, base_url: Union[str, Sequence[str]], timeout: aiohttp.ClientTimeout,
        down_seconds: float = 5.0, pool: Optional[WorkerPool] = None, shared_context: bool = True,
        token: Optional[str] = None, revert_seconds: float = REVERT_SECONDS,
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
        self.pool = pool or WorkerPool(self.workers)
        self.shared_context = shared_context
        self._token = token
        self.revert_seconds = revert_seconds
        self.poll_seconds = 1.0
        self._placed: "OrderedDict[str, str]" = OrderedDict()  # conversations whose context is off their first worker
        self._reverts: Set["asyncio.Task[None]"] = set()

    def worker_for(self, conversation_id: str) -> str:
        """The base URL of the Rasa worker that owns this conversation."""
        return pick_worker(self.workers, conversation_id)

    async def send(
        self, sender: str, text: str, metadata: Optional[Dict[str, Any]] = None, input_channel: str = "rest"
    ) -> List[BotMessage]:
        """Post one message to the conversation's worker; return Rasa's reply with custom items merged."""
        return (await self.send_turn(sender, text, metadata, input_channel)).messages

    async def send_turn(
        self, sender: str, text: str, metadata: Optional[Dict[str, Any]] = None, input_channel: str = "rest"
    ) -> Reply:
        """Like ``send``; the reply also says whether the conversation restarted on another worker."""
        async with self._turns.hold(sender):
            ranked = rank_workers(self.workers, sender)
            candidates = [w for w in self.pool.available(ranked) if not self._refused_recently(w)] or ranked
            for index, worker in enumerate(candidates):
                turn_id: Optional[str] = None
                try:
                    restarted = await self._settle(worker, sender, ranked[0], input_channel)
                    turn_id = uuid.uuid4().hex
                    body_metadata = {**(metadata or {}), TURN_KEY: turn_id}
                    url = worker + "/webhooks/rest/webhook"
                    return Reply(await self._post(url, sender, text, body_metadata, input_channel), restarted)
                except UpstreamError as exc:
                    if exc.kind == "rasa_timeout":
                        self.pool.suspect(worker)  # the prober looks at it now; one miss takes it out
                        if turn_id is not None:
                            self._revert_later(worker, sender, turn_id)
                    if not exc.refused or index == len(candidates) - 1:
                        raise
                    self._down_until[worker] = time.monotonic() + self.down_seconds
                    log.warning("rasa worker %s refused the connection; trying the next one", worker)
            raise AssertionError("unreachable: the last candidate raises")  # pragma: no cover

    def _refused_recently(self, worker: str) -> bool:
        return self._down_until.get(worker, 0.0) > time.monotonic()

    def is_down(self, worker: str) -> bool:
        """Whether ``worker`` is out of the rotation or refused a connection within ``down_seconds``."""
        return self._refused_recently(worker) or not self.pool.in_rotation(worker)

    async def _settle(self, worker: str, sender: str, home: str, input_channel: str) -> bool:
        """Restart the conversation on ``worker`` when its context is on another one; True when it did."""
        if self.shared_context or self._placed.get(sender, home) == worker:
            return False
        await self._post(worker + "/webhooks/rest/webhook", sender, RESTART, {}, input_channel)
        self._placed.pop(sender, None)
        if worker != home:
            self._placed[sender] = worker
            while len(self._placed) > MAX_PLACED:
                self._placed.popitem(last=False)
        log.warning("a conversation moved to rasa worker %s and restarted there", worker)
        return True

    def _revert_later(self, worker: str, sender: str, turn_id: str) -> None:
        if len(self._reverts) >= MAX_REVERTS:
            log.error("too many timed-out turns waiting to be reverted; one is not")
            return
        task = asyncio.create_task(self._revert(worker, sender, turn_id))
        self._reverts.add(task)
        task.add_done_callback(self._reverts.discard)

    async def _find_turn(self, worker: str, sender: str, turn_id: str) -> Optional[bool]:
        """Whether the timed-out turn is the conversation's last user turn in ``worker``'s tracker.

        None while the worker does not answer or has not applied the turn yet; raises ``PermissionError``
        when the HTTP API refuses (not enabled, wrong token).
        """
        url = f"{worker}/conversations/{quote(sender, safe='')}/tracker"
        params = {"include_events": "AFTER_RESTART", **({"token": self._token} if self._token else {})}
        try:
            async with self._session.get(url, params=params, timeout=self._timeout) as resp:
                if resp.status in (401, 403, 404):
                    raise PermissionError(f"HTTP {resp.status}")
                if resp.status != 200:
                    return None
                tracker = await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return None
        users = [e for e in tracker.get("events") or [] if isinstance(e, dict) and e.get("event") == "user"]
        mine = [i for i, e in enumerate(users) if (e.get("metadata") or {}).get(TURN_KEY) == turn_id]
        if not mine:
            return None
        return mine[-1] == len(users) - 1

    async def _revert(self, worker: str, sender: str, turn_id: str) -> None:
        """Undo a turn the taxpayer got the apology for, once ``worker`` applies it (UserUtteranceReverted)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.revert_seconds
        try:
            while loop.time() < deadline:
                found = await self._find_turn(worker, sender, turn_id) if self.pool.in_rotation(worker) else None
                if found is None:
                    await asyncio.sleep(self.poll_seconds)
                    continue
                if found:
                    async with self._turns.hold(sender):  # no later turn of the conversation goes out meanwhile
                        if await self._find_turn(worker, sender, turn_id):
                            await self._rewind(worker, sender)
                            return
                log.warning("a timed-out turn was followed by another one before it could be reverted")
                return
            log.warning("a timed-out turn was not applied within %.0f s; not reverted", self.revert_seconds)
        except PermissionError as exc:
            log.warning("cannot revert a timed-out turn: the Rasa HTTP API answered %s (--enable-api, RASA_TOKEN?)",
                        exc)

    async def _rewind(self, worker: str, sender: str) -> None:
        """Append UserUtteranceReverted; Rasa applies it after the turn it is still running (its lock)."""
        url = f"{worker}/conversations/{quote(sender, safe='')}/tracker/events"
        params = {"include_events": "NONE", **({"token": self._token} if self._token else {})}
        post = asyncio.create_task(self._post_event(url, params))
        self._reverts.add(post)
        post.add_done_callback(self._reverts.discard)
        # the request has reached Rasa (and taken its place in the lock's queue) well within a second;
        # later turns may go out then, while Rasa finishes the slow turn and applies the revert after it
        await asyncio.wait({post}, timeout=1.0)

    async def _post_event(self, url: str, params: Dict[str, str]) -> None:
        timeout = aiohttp.ClientTimeout(total=self.revert_seconds)
        try:
            async with self._session.post(url, params=params, json={"event": "rewind"}, timeout=timeout) as resp:
                if resp.status != 200:
                    log.warning("reverting a timed-out turn answered HTTP %s", resp.status)
                else:
                    log.info("a timed-out turn was reverted in rasa")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            log.warning("reverting a timed-out turn failed: %s", type(exc).__name__)

    async def close(self) -> None:
        """Stop waiting to revert timed-out turns (at shutdown)."""
        await cancel_all(self._reverts)

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
