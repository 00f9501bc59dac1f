"""``GET /wechat`` (server URL verification) and ``POST /wechat`` (messages and events)."""
from __future__ import annotations

import asyncio
import logging
from typing import NoReturn

from aiohttp import web

from bot.errors import ApiError
from bot.keys import WECHAT, WECHAT_SETTINGS
from bot.wechat.protocol import (
    Rejected,
    check_signature,
    check_timestamp,
    encrypted_envelope,
    parse_message,
    text_reply_xml,
)

log = logging.getLogger(__name__)
SUCCESS = "success"  # WeChat's "received, no passive reply"


def _refuse(exc: Rejected) -> NoReturn:
    # logged with its reason only: never the query (it carries the user's OpenID) or the body
    log.warning("wechat: request refused with %d (%s)", exc.status, exc.code)
    raise ApiError(exc.status, exc.code, exc.message) from None


async def _read_body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise Rejected(413, "payload_too_large", f"XML larger than {limit} bytes")
    body = bytearray()
    while True:
        chunk = await request.content.read(16 * 1024)
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > limit:
            raise Rejected(413, "payload_too_large", f"XML larger than {limit} bytes")


async def verify(request: web.Request) -> web.Response:
    """WeChat checks the server URL: echo ``echostr`` when the signature holds."""
    conf = request.app[WECHAT_SETTINGS]
    query = request.query
    try:
        check_timestamp(query.get("timestamp"), conf.timestamp_window)
        assert conf.token is not None
        check_signature(query, conf.token)
        echostr = query.get("echostr") or ""
        if not echostr or len(echostr) > 128 or not echostr.isalnum():
            raise Rejected(400, "invalid_echostr", "echostr is missing or malformed")
    except Rejected as exc:
        _refuse(exc)
    log.info("wechat: server URL verified")
    return web.Response(text=echostr, content_type="text/plain")


async def receive(request: web.Request) -> web.Response:
    """One message or event: a passive reply within the budget, else "success" (reply sent later)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    conf = request.app[WECHAT_SETTINGS]
    channel = request.app[WECHAT]
    try:
        raw = await _read_body(request, conf.max_xml_bytes)
        inbound = parse_message(request.query, raw, conf, channel.crypto)
    except Rejected as exc:
        _refuse(exc)
    content = await channel.receive(inbound, conf.reply_budget - (loop.time() - started))
    if content is None:
        return web.Response(text=SUCCESS, content_type="text/plain")
    xml = text_reply_xml(inbound, content)
    if channel.crypto is not None:
        xml = encrypted_envelope(channel.crypto, xml)
    return web.Response(text=xml, content_type="application/xml")


def setup_wechat_routes(app: web.Application) -> None:
    """Add ``GET /wechat`` (URL verification) and ``POST /wechat`` (messages)."""
    app.router.add_get("/wechat", verify)
    app.router.add_post("/wechat", receive)
