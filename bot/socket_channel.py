"""Rasa's socket.io channel protocol, served by the gateway.

Events: ``session_request`` -> ``session_confirm``; ``user_uttered`` ->
``bot_uttered``, emitted exactly as Rasa 3.6's ``SocketIOOutput`` does, so any
Rasa widget (e.g. rasa-webchat) renders them: ``{"text"}`` per text part,
``{"text", "quick_replies"}`` with the buttons on the last part, then the
message's ``custom`` json as its own event (as it is; Rasa's ``{"data": x}``
form as ``x``), then images, attachments and elements. A part
with nothing visible is never sent. Problems are reported with a
``gateway_error`` event ``{"error": {"code", "message"}}``.
"""
from __future__ import annotations

import logging
import unicodedata
from typing import Any, Dict, List, Optional, Tuple

import socketio
from aiohttp import web

from bot.errors import ApiError
from bot.keys import METRICS, SERVICE, SETTINGS, SIGNER, THROTTLE
from bot.rasa_client import BotMessage
from bot.tasks import cancel_all
from bot.validation import validate_metadata, validate_text

log = logging.getLogger(__name__)

USER_EVENT = "user_uttered"
BOT_EVENT = "bot_uttered"
ERROR_EVENT = "gateway_error"
STATUS_EVENT = "handoff_status"


def _visible(text: str) -> bool:
    """True when ``text`` shows something: not only whitespace and zero-width or other format characters."""
    return any(not ch.isspace() and unicodedata.category(ch) != "Cf" for ch in text)


def to_socket_events(item: BotMessage) -> List[Dict[str, Any]]:
    """Convert one REST-shaped bot message into the ``bot_uttered`` payloads Rasa's ``SocketIOOutput`` emits.

    Order and shapes follow Rasa's ``OutputChannel.send_response``: text (or text with quick replies),
    custom json, image, attachment, elements. Text parts with nothing visible are left out.
    """
    events: List[Dict[str, Any]] = []
    text = item.get("text")
    buttons = [b for b in item.get("buttons") or [] if isinstance(b, dict)]
    parts = [p for p in text.strip().split("\n\n") if _visible(p)] if isinstance(text, str) else []
    if buttons:
        messages: List[Dict[str, Any]] = [{"text": p, "quick_replies": []} for p in parts or [""]]
        messages[-1]["quick_replies"] = [
            {"content_type": "text", "title": b.get("title"), "payload": b.get("payload")} for b in buttons
        ]
        events.extend(messages)
    else:
        events.extend({"text": p} for p in parts)
    custom = item.get("custom")
    if isinstance(custom, dict) and custom:
        # Rasa emits ``custom["data"]`` for its documented ``{"data": ...}`` form, any other json as it is
        payload = custom["data"] if set(custom) == {"data"} else dict(custom)
        if payload:
            events.append(payload)
    if item.get("image"):
        events.append({"attachment": {"type": "image", "payload": {"src": item["image"]}}})
    if item.get("attachment"):
        events.append({"attachment": item["attachment"]})
    for element in item.get("elements") or []:
        generic = {"template_type": "generic", "elements": element}
        events.append({"attachment": {"type": "template", "payload": generic}})
    return events


class SocketTaxpayers:
    """Delivers handoff and survey messages to the taxpayer sockets connected to this instance.

    A ``bot.handoff.fanout.TaxpayerSubscriber``: the handoff fan-out calls it on every instance; a room
    with no socket here is a no-op.
    """

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio

    async def taxpayer_message(self, conversation_id: str, message: Dict[str, Any], event_id: Optional[str]) -> None:
        """Emit ``message`` as Rasa's socket.io channel would (``bot_uttered`` events), to this instance's sockets.

        The handoff fan-out calls every instance, so each emits locally (``ignore_queue``): through the
        shared socket.io Redis manager every taxpayer would get it once per instance.
        """
        for event in to_socket_events(message):
            await self.sio.emit(BOT_EVENT, event, room=conversation_id, ignore_queue=True)

    async def taxpayer_status(self, conversation_id: str, status: Dict[str, Any]) -> None:
        """Emit a queue-position update (``handoff_status``) to this instance's sockets."""
        await self.sio.emit(STATUS_EVENT, status, room=conversation_id, ignore_queue=True)


def _remote(environ: Dict[str, Any], trust_proxy: bool) -> str:
    request: Optional[web.Request] = environ.get("aiohttp.request")
    if trust_proxy and request is not None:
        hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
        if hops:
            return hops[-1]
    if request is not None and request.remote:
        return request.remote
    return str(environ.get("REMOTE_ADDR", "unknown"))


class OriginPolicy:
    """The origins socket.io accepts when embedding sites are configured: those sites and the gateway's own.

    python-engineio takes a plain list literally, so listing an embedding site would lock out the
    gateway's own chat page; a callable is its documented alternative.
    """

    def __init__(self, origins: Tuple[str, ...]) -> None:
        self.origins = frozenset(o.rstrip("/") for o in origins)

    def __call__(self, origin: Optional[str], environ: Dict[str, Any]) -> bool:
        """Whether a connection from ``origin`` may open a socket."""
        if origin is None:
            return True  # not a browser's cross-origin request
        own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
        return origin.rstrip("/") in self.origins or origin == own


def create_socket_server(
    cors_origins: Tuple[str, ...], redis_url: Optional[str] = None, channel: str = "taxguide:socketio"
) -> socketio.AsyncServer:
    """A socket.io server for aiohttp; same-origin unless origins are configured.

    With ``redis_url`` the gateway instances share one socket.io client manager on Redis, so a reply
    emitted by one instance reaches the taxpayer's sockets on every other.
    """
    manager = socketio.AsyncRedisManager(redis_url, channel=channel) if redis_url else None
    return socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=manager,
        cors_allowed_origins=OriginPolicy(cors_origins) if cors_origins else None,
        logger=False,
        engineio_logger=False,
    )


async def close_socket_server(sio: socketio.AsyncServer) -> None:
    """Stop the server's background work and, with Redis, its client manager's listener and connections."""
    await sio.shutdown()
    manager = sio.manager
    if isinstance(manager, socketio.AsyncRedisManager):
        listener = getattr(manager, "thread", None)  # set on the first emit
        if listener is not None:
            await cancel_all([listener])
        if manager.pubsub is not None:
            await manager.pubsub.close()
        if manager.redis is not None:
            await manager.redis.close(close_connection_pool=True)


def register_handlers(sio: socketio.AsyncServer, app: web.Application) -> None:
    """Wire the Rasa socket.io protocol to the conversation service."""

    async def error(sid: str, exc: ApiError) -> None:
        app[METRICS].error(exc.code)
        payload: Dict[str, Dict[str, Any]] = {"error": {"code": exc.code, "message": exc.message}}
        if "Retry-After" in exc.headers:
            payload["error"]["retry_after"] = int(exc.headers["Retry-After"])
        await sio.emit(ERROR_EVENT, payload, to=sid)

    async def connect(sid: str, environ: Dict[str, Any], auth: Any = None) -> bool:
        ip = _remote(environ, app[SETTINGS].trust_proxy)
        await sio.save_session(sid, {"ip": ip, "sessions": []})
        app[METRICS].open_sessions.inc()
        return True

    async def disconnect(sid: str, *args: Any) -> None:
        app[METRICS].open_sessions.dec()

    async def session_request(sid: str, data: Any = None) -> None:
        signer = app[SIGNER]
        requested = data.get("session_id") if isinstance(data, dict) else None
        session_id = requested if isinstance(requested, str) and signer.is_valid(requested) else signer.new_id()
        async with sio.session(sid) as state:
            if session_id not in state["sessions"]:
                state["sessions"].append(session_id)
        await sio.enter_room(sid, signer.conversation_id(session_id))  # the handoff fan-out's room
        await sio.emit("session_confirm", session_id, to=sid)

    async def user_uttered(sid: str, data: Any = None) -> None:
        try:
            if not isinstance(data, dict):
                raise ApiError(400, "invalid_type", "user_uttered data must be an object")
            state = await sio.get_session(sid)
            session_id = data.get("session_id")
            if not isinstance(session_id, str) or session_id not in state["sessions"]:
                raise ApiError(400, "no_session", "send session_request first and use the confirmed session_id")
            conversation_id = app[SIGNER].conversation_id(session_id)
            throttle = app[THROTTLE]
            for decision in (await throttle.check_ip(state["ip"]), await throttle.check_sender(conversation_id)):
                if not decision.allowed:
                    raise ApiError(429, "rate_limited", "too many messages, please slow down",
                                   {"Retry-After": decision.retry_after_header})
            text = validate_text(data.get("message"), app[SETTINGS].max_message_chars)
            metadata = validate_metadata(data.get("metadata"))
        except ApiError as exc:
            await error(sid, exc)
            return
        try:
            replies = await app[SERVICE].handle(conversation_id, text, "socketio", metadata)
        except Exception:
            log.exception("socket message failed")
            await error(sid, ApiError(500, "internal_error", "internal server error"))
            return
        for item in replies:
            for event in to_socket_events(item):
                await sio.emit(BOT_EVENT, event, room=conversation_id)

    sio.on("connect", connect)
    sio.on("disconnect", disconnect)
    sio.on("session_request", session_request)
    sio.on(USER_EVENT, user_uttered)
