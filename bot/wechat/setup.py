"""Wires the WeChat channel into the gateway app (only when WECHAT_TOKEN and WECHAT_APP_ID are set)."""
from __future__ import annotations

import logging
import re
from typing import AsyncIterator

import aiohttp
from aiohttp import web

from bot.keys import HANDOFF, METRICS, REDIS, SERVICE, SETTINGS, THROTTLE, WECHAT, WECHAT_SETTINGS
from bot.settings import Settings
from bot.wechat.api import AccessTokens, WeChatApi
from bot.wechat.channel import WeChatChannel
from bot.wechat.crypto import MessageCrypto
from bot.wechat.state import ChannelState, MemoryState, RedisState
from bot.wechat.views import setup_wechat_routes

log = logging.getLogger(__name__)
_OPENID = re.compile(r"([?&]openid=)[^&\s\"]*", re.I)


class OpenIdFilter(logging.Filter):
    """Removes the ``openid`` query parameter WeChat adds to callback URLs from access-log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record in place; it is always logged."""
        if isinstance(record.msg, str) and "openid=" in record.msg.lower():
            record.msg = _OPENID.sub(r"\1<redacted>", record.msg)
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_OPENID.sub(r"\1<redacted>", a) if isinstance(a, str) else a for a in record.args)
        for name, value in list(vars(record).items()):  # aiohttp's extras: first_request_line, …
            if name not in ("msg", "args") and isinstance(value, str) and "openid=" in value.lower():
                setattr(record, name, _OPENID.sub(r"\1<redacted>", value))
        return True


def _install_log_filter() -> None:
    access = logging.getLogger("aiohttp.access")
    if not any(isinstance(f, OpenIdFilter) for f in access.filters):
        access.addFilter(OpenIdFilter())


def setup_wechat(app: web.Application, settings: Settings) -> None:
    """Add ``/wechat`` and the channel's resources when the Official Account is configured."""
    conf = settings.wechat
    if not conf.enabled:
        if conf.token or conf.app_id:
            log.warning("wechat: set both WECHAT_TOKEN and WECHAT_APP_ID to enable the channel; it is off")
        return
    if not conf.app_secret:
        log.warning("wechat: WECHAT_APP_SECRET is not set: only passive replies within %.1f s can be sent",
                    conf.reply_budget)
    app[WECHAT_SETTINGS] = conf
    _install_log_filter()
    setup_wechat_routes(app)
    app.cleanup_ctx.append(wechat_ctx)


async def wechat_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the channel (state, access tokens, API client) and join it to the handoff's deliveries."""
    conf = app[WECHAT_SETTINGS]
    settings = app[SETTINGS]
    metrics = app[METRICS]
    assert conf.token is not None and conf.app_id is not None
    http = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=conf.api_timeout, connect=max(1.0, settings.connect_timeout)),
    )
    redis = app[REDIS]
    prefix = f"{conf.redis_prefix}{conf.app_id}:"
    state: ChannelState = RedisState(redis, prefix, metrics.error) if redis is not None else MemoryState()
    tokens = AccessTokens(lambda: http, conf.api_base, conf.app_id, conf.app_secret, redis, conf.redis_prefix,
                          on_error=metrics.error)
    api = WeChatApi(lambda: http, conf.api_base, tokens, metrics.error) if conf.app_secret else None
    crypto = MessageCrypto(conf.token, conf.encoding_aes_key, conf.app_id) if conf.encoding_aes_key else None
    handoff = app[HANDOFF]  # opened before this context (bot/app.py)
    channel = WeChatChannel(
        conf, app[SERVICE], state, api, conf.id_secret or settings.session_secret, crypto=crypto,
        throttle=app[THROTTLE], handoff=handoff, max_chars=settings.max_message_chars, on_error=metrics.error,
    )
    app[WECHAT] = channel
    handoff.add_subscriber(channel)  # agent messages, queue updates, the survey
    await channel.start()
    log.info("wechat: channel ready (%s mode)", "safe" if crypto else "plain")
    try:
        yield
    finally:
        await channel.stop()
        await http.close()
