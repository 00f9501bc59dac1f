"""The WeChat channel: each message once through the conversation service, answered in time.

* **Pseudonyms.** A user's conversation id is ``"wx-"`` + the first 32 hex digits of
  HMAC-SHA256(WECHAT_ID_SECRET or SESSION_SECRET, OpenID). Transcripts, Rasa, handoff events,
  analytics and logs only see that id. The OpenID itself is kept only in the channel state
  (``contact:<conversation id>``, Redis or memory, 48 hours after the user's last message) so that
  replies can be sent.
* **Retries.** WeChat waits 5 s for an answer and sends the same message again (same MsgId; events:
  same FromUserName + CreateTime) up to three times. The first copy claims the message (``SET NX``)
  and runs it; a copy that arrives later waits for that result within its own reply budget and
  returns the same reply, or "success". A message is therefore handled, recorded and answered once.
* **Replies.** A reply ready within ``WECHAT_REPLY_BUDGET`` (4.5 s) and short enough for one WeChat
  message is returned passively; otherwise the request gets "success" and the reply goes out through
  the customer-service API when ready, in order, split at 2048 bytes. Who delivers is claimed once
  per message (``mode:<key>``: ``passive`` may be repeated for retries, ``cs`` happens once).
* **Outside a turn.** Agent messages, handoff notices, queue-position changes and the survey arrive
  through the handoff fan-out (``HandoffManager.add_subscriber``) on every gateway instance; one
  instance claims each delivery and sends it through the customer-service API, which WeChat allows
  only within 48 hours of the user's last message (later messages are dropped and logged).
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Coroutine, Dict, List, Mapping, Optional, Protocol, Set, Tuple

from bot.hooks import BotMessage
from bot.ratelimit import Throttle
from bot.service import ConversationService
from bot.tasks import cancel_all
from bot.validation import has_forbidden_chars
from bot.wechat.api import WeChatApi
from bot.wechat.crypto import MessageCrypto
from bot.wechat.protocol import Inbound
from bot.wechat.render import Rendered, custom_of, first_language, render, split_text
from bot.wechat.settings import WeChatSettings
from bot.wechat.state import ChannelState
from knowledge import catalogue
from knowledge.text import LANGUAGES, detect_language

log = logging.getLogger(__name__)

CHANNEL = "wechat"
PREFIX = "wx-"
DEFAULT_LANGUAGE = "zh"  # the preference sent to Rasa until the user has written in a language
WINDOW_SECONDS = 48 * 3600.0  # customer-service messages: within 48 h of the user's last message
DEDUPE_TTL = 600.0  # WeChat's retries come within about 15 s
RESULT_TTL = 600.0
OUT_TTL = 600.0
TICKET_TTL = 3600.0
OUTBOX_MAX = 10_000
_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
_TICKET_CANCEL = frozenset({"0", "取消", "不留言", "cancel", "no", "不用了", "算了"})


def conversation_id(secret: str, openid: str) -> str:
    """The pseudonymous conversation id of an OpenID (stable, not reversible without the secret)."""
    digest = hmac.new(secret.encode("utf-8"), openid.encode("utf-8"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:32]


def _t(key: str, language: Optional[str], **values: Any) -> str:
    return catalogue.text(f"wechat.{key}", language if language in LANGUAGES else DEFAULT_LANGUAGE, **values)


@dataclass
class Contact:
    """How to reach a WeChat user: the OpenID, when they last wrote (epoch seconds), their language."""

    openid: str
    last_seen: float
    language: Optional[str] = None


class OfflineTickets(Protocol):
    """Offline messages left for an officer (``bot.handoff``'s manager)."""

    async def create_ticket(self, conv_id: str, message: str, method: str, contact: Optional[str]) -> Mapping[str, Any]:
        """Store the message; the reply to show the taxpayer is under ``"text"``."""
        ...


class WeChatChannel:
    """Runs WeChat messages and delivers replies; also a ``TaxpayerSubscriber`` of the handoff."""

    def __init__(
        self,
        conf: WeChatSettings,
        service: ConversationService,
        state: ChannelState,
        api: Optional[WeChatApi],
        id_secret: str,
        crypto: Optional[MessageCrypto] = None,
        throttle: Optional[Throttle] = None,
        handoff: Optional[OfflineTickets] = None,
        max_chars: int = 2000,
        on_error: Callable[[str], None] = lambda kind: None,
    ) -> None:
        self.conf = conf
        self.service = service
        self.state = state
        self.api = api
        self.crypto = crypto
        self.throttle = throttle
        self.handoff = handoff
        self.max_chars = max_chars
        self.on_error = on_error
        self._secret = id_secret
        self._running: Dict[str, "asyncio.Task[List[str]]"] = {}
        self._locks: Dict[str, Tuple[asyncio.Lock, int]] = {}
        self._tasks: Set["asyncio.Task[Any]"] = set()
        self._outbox: "asyncio.Queue[Tuple[str, str, str]]" = asyncio.Queue(OUTBOX_MAX)
        self._sender: Optional["asyncio.Task[None]"] = None
        self._sending = False
        self.sent = 0  # customer-service messages accepted by WeChat (this process)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Start sending queued customer-service messages."""
        self._sender = asyncio.create_task(self._send_loop())

    async def stop(self, drain_seconds: float = 2.0) -> None:
        """Let queued messages go out briefly, then stop every background task."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain_seconds
        while (self._tasks or self._sending or not self._outbox.empty()) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        tasks: List["asyncio.Future[Any]"] = [*self._tasks, *self._running.values()]
        if self._sender is not None:
            tasks.append(self._sender)
        await cancel_all(tasks)
        if not self._outbox.empty():
            log.warning("wechat: %d customer-service message(s) not sent at shutdown", self._outbox.qsize())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def conversation_id(self, openid: str) -> str:
        """The pseudonymous conversation id of a user of this Official Account."""
        return conversation_id(self._secret, openid)

    # ------------------------------------------------------------------ one callback
    async def receive(self, inbound: Inbound, budget: float) -> Optional[str]:
        """The passive reply to ``inbound`` (None: answer "success"), at most ``budget`` seconds."""
        key = inbound.dedupe_key
        conv = self.conversation_id(inbound.openid)
        task: Optional["asyncio.Task[List[str]]"] = None
        if await self.state.add(f"seen:{key}", "1", DEDUPE_TTL):
            task = asyncio.create_task(self._run(inbound, key))
            self._running[key] = task
            task.add_done_callback(lambda _t: self._running.pop(key, None))
        else:
            log.info("wechat: repeated delivery of a message of %s (not handled again)", conv)
        texts = await self._wait(key, max(0.0, budget))
        if texts is None:
            if task is not None:  # too slow for a passive reply: send it when ready
                self._spawn(self._deliver_late(key, conv, task))
            return None
        return await self._deliver_now(key, conv, texts)

    async def _wait(self, key: str, timeout: float) -> Optional[List[str]]:
        task = self._running.get(key)
        if task is not None:
            try:
                return await asyncio.wait_for(asyncio.shield(task), timeout)
            except asyncio.TimeoutError:
                return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:  # the first copy runs on another instance (or finished): its result is shared
            raw = await self.state.get(f"result:{key}")
            if raw is not None:
                return list(json.loads(raw))
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            await asyncio.sleep(min(0.1, remaining))

    async def _claim_passive(self, key: str) -> bool:
        if await self.state.add(f"mode:{key}", "passive", RESULT_TTL):
            return True
        return await self.state.get(f"mode:{key}") == "passive"  # a retry gets the same passive reply

    async def _deliver_now(self, key: str, conv: str, texts: List[str]) -> Optional[str]:
        if not texts:
            return None
        if len(texts) == 1 and await self._claim_passive(key):
            return texts[0]
        if await self.state.add(f"mode:{key}", "cs", RESULT_TTL):
            await self.send(conv, texts)
        return None

    async def _deliver_late(self, key: str, conv: str, task: "asyncio.Task[List[str]]") -> None:
        try:
            texts = await task
        except Exception:
            return
        if texts and await self.state.add(f"mode:{key}", "cs", RESULT_TTL):
            await self.send(conv, texts)

    async def _run(self, inbound: Inbound, key: str) -> List[str]:
        conv = self.conversation_id(inbound.openid)
        try:
            texts = await self._process(inbound, conv)
        except Exception as exc:
            log.error("wechat: message of %s failed: %s", conv, type(exc).__name__)
            self.on_error("wechat")
            contact = await self._contact(conv)
            texts = split_text(catalogue.text("apology", (contact.language if contact else None) or DEFAULT_LANGUAGE))
        await self.state.set(f"result:{key}", json.dumps(texts, ensure_ascii=False), RESULT_TTL)
        return texts

    @contextlib.asynccontextmanager
    async def _turn(self, conv: str) -> AsyncIterator[None]:
        """One turn at a time per conversation in this process, so replies keep their order."""
        lock, users = self._locks.get(conv, (asyncio.Lock(), 0))
        self._locks[conv] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[conv]
            if users <= 1:
                self._locks.pop(conv, None)
            else:
                self._locks[conv] = (lock, users - 1)

    async def _process(self, inbound: Inbound, conv: str) -> List[str]:
        async with self._turn(conv):
            contact = await self._touch(conv, inbound.openid)
            language = contact.language or DEFAULT_LANGUAGE
            if inbound.msg_type == "event":
                if inbound.event == "subscribe":
                    return split_text(_t("welcome", language))
                if inbound.event == "unsubscribe":
                    await self._forget(conv)
                return []
            if inbound.msg_type != "text":  # voice, image, location, video, link, …
                return split_text(_t("text_only", language))
            return await self._text_turn(conv, contact, inbound.content or "")

    async def _text_turn(self, conv: str, contact: Contact, content: str) -> List[str]:
        text = content.strip()
        detected = detect_language(text)
        language = detected or contact.language or DEFAULT_LANGUAGE
        if not text or has_forbidden_chars(text):
            return split_text(_t("text_only", language))
        if len(text) > self.max_chars:
            return split_text(_t("too_long", language, max_chars=self.max_chars))
        if self.throttle is not None:
            decision = await self.throttle.check_sender(conv)
            if not decision.allowed:
                return split_text(_t("slow_down", language))
        if detected and detected != contact.language:  # Rasa's preference from now on
            contact.language = detected
            await self._save_contact(conv, contact)
        short = text.translate(_DIGITS).strip().lower()
        if await self.state.get(f"ticket:{conv}") is not None and self.handoff is not None:
            await self.state.delete(f"ticket:{conv}")
            if short in _TICKET_CANCEL:
                return split_text(_t("ticket_dropped", language))
            result = await self.handoff.create_ticket(conv, text, "chat", None)
            return split_text(result["text"])
        message = text
        raw_choices = await self.state.get(f"choices:{conv}")
        if raw_choices and short.isdigit():
            choices = json.loads(raw_choices)
            if 1 <= int(short) <= len(choices):
                message = choices[int(short) - 1]  # the button's payload, as the web chat sends it
        replies = await self.service.handle(conv, message, CHANNEL, {"language": contact.language or DEFAULT_LANGUAGE})
        rendered = render(replies, first_language(replies) or language)
        await self._remember(conv, rendered, in_turn=True)
        for item in replies:
            custom = custom_of(item)
            if custom.get("kind") == "handoff_queued" and isinstance(custom.get("position"), int):
                await self.state.set(f"position:{conv}", str(custom["position"]), WINDOW_SECONDS)
        return rendered.parts

    async def _remember(self, conv: str, rendered: Rendered, in_turn: bool) -> None:
        """What a digit means next: a numbered choice, the survey's score, or nothing."""
        if rendered.choices and not rendered.survey:
            await self.state.set(f"choices:{conv}", json.dumps(rendered.choices, ensure_ascii=False), WINDOW_SECONDS)
        elif rendered.survey or in_turn:
            await self.state.delete(f"choices:{conv}")
        if rendered.ticket:
            await self.state.set(f"ticket:{conv}", "1", TICKET_TTL)

    # ------------------------------------------------------------------ the OpenID mapping
    async def _contact(self, conv: str) -> Optional[Contact]:
        raw = await self.state.get(f"contact:{conv}")
        if raw is None:
            return None
        data = json.loads(raw)
        return Contact(str(data["openid"]), float(data["last_seen"]), data.get("language"))

    async def _save_contact(self, conv: str, contact: Contact) -> None:
        value = json.dumps({"openid": contact.openid, "last_seen": contact.last_seen, "language": contact.language})
        ttl = max(1.0, contact.last_seen + WINDOW_SECONDS - time.time())
        await self.state.set(f"contact:{conv}", value, ttl)

    async def _touch(self, conv: str, openid: str) -> Contact:
        """The user wrote: the 48-hour window starts again."""
        previous = await self._contact(conv)
        contact = Contact(openid, time.time(), previous.language if previous else None)
        await self._save_contact(conv, contact)
        return contact

    async def _forget(self, conv: str) -> None:
        for key in ("contact", "choices", "ticket", "position"):
            await self.state.delete(f"{key}:{conv}")

    # ------------------------------------------------------------------ customer-service messages
    async def send(self, conv: str, texts: List[str]) -> bool:
        """Queue texts for the customer-service API, if the user wrote within 48 hours."""
        if not texts:
            return True
        contact = await self._contact(conv)
        if contact is None or time.time() - contact.last_seen > WINDOW_SECONDS:
            log.warning("wechat: %d message(s) for %s dropped: no message from the user within 48 hours",
                        len(texts), conv)
            self.on_error("wechat_window")
            return False
        if self.api is None:
            log.warning("wechat: %d message(s) for %s dropped: WECHAT_APP_SECRET is not set", len(texts), conv)
            return False
        for text in texts:
            try:
                self._outbox.put_nowait((conv, contact.openid, text))
            except asyncio.QueueFull:
                log.error("wechat: outgoing queue full; a message for %s dropped", conv)
                self.on_error("wechat")
                return False
        return True

    async def _send_loop(self) -> None:
        while True:
            conv, openid, text = await self._outbox.get()
            self._sending = True
            try:
                if self.api is not None and await self.api.send_text(openid, text, conv):
                    self.sent += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("wechat: sending to %s failed: %s", conv, type(exc).__name__)
            finally:
                self._sending = False
                self._outbox.task_done()

    # ------------------------------------------------------------------ handoff subscriber
    async def taxpayer_message(self, conversation_id: str, message: BotMessage, event_id: Optional[str]) -> None:
        """An agent message, a handoff notice or the survey for a WeChat user (one instance sends it)."""
        if not conversation_id.startswith(PREFIX):
            return
        body = json.dumps(message, sort_keys=True, ensure_ascii=False, default=str)
        ident = event_id or hashlib.sha256((conversation_id + "\n" + body).encode("utf-8")).hexdigest()
        if not await self.state.add(f"out:{ident}", "1", OUT_TTL):
            return
        contact = await self._contact(conversation_id)
        rendered = render([message], (contact.language if contact else None) or DEFAULT_LANGUAGE)
        await self._remember(conversation_id, rendered, in_turn=False)
        await self.send(conversation_id, rendered.parts)

    async def taxpayer_status(self, conversation_id: str, status: Dict[str, Any]) -> None:
        """Tell a waiting WeChat user when they move up the queue (the first position came with the reply)."""
        if not conversation_id.startswith(PREFIX) or status.get("status") != "queued":
            return
        position = status.get("position")
        if not isinstance(position, int):
            return
        previous = await self.state.swap(f"position:{conversation_id}", str(position), WINDOW_SECONDS)
        if previous is None or not previous.isdigit() or int(previous) <= position:
            return
        contact = await self._contact(conversation_id)
        language = (contact.language if contact else None) or DEFAULT_LANGUAGE
        await self.send(conversation_id, split_text(_t("queue_position", language, position=position)))
