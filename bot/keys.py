"""Typed application keys shared by the app factory, views and sockets."""
from __future__ import annotations

from typing import Any

import aiohttp
import socketio
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.health import HealthService
from bot.metrics import Metrics
from bot.ratelimit import Throttle
from bot.routing import RoutingService
from bot.service import ConversationService
from bot.sessions import SessionSigner
from bot.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
SIGNER = web.AppKey("signer", SessionSigner)
ROUTING = web.AppKey("routing", RoutingService)
SIO = web.AppKey("sio", socketio.AsyncServer)
HTTP = web.AppKey("http", aiohttp.ClientSession)
ENGINE = web.AppKey("engine", AsyncEngine)
REDIS = web.AppKey("redis", Any)
THROTTLE = web.AppKey("throttle", Throttle)
SERVICE = web.AppKey("service", ConversationService)
HEALTH = web.AppKey("health", HealthService)

# live-agent handoff (bot/handoff)
from bot.db.handoff_repository import HandoffRepository  # noqa: E402
from bot.handoff.knowledge_search import KnowledgeSearch  # noqa: E402
from bot.handoff.manager import HandoffManager  # noqa: E402
from bot.handoff.policy import HandoffPolicy  # noqa: E402

HANDOFF = web.AppKey("handoff", HandoffManager)
HANDOFF_STORE = web.AppKey("handoff_store", Any)
HANDOFF_REPO = web.AppKey("handoff_repo", HandoffRepository)
HANDOFF_POLICY = web.AppKey("handoff_policy", HandoffPolicy)
KNOWLEDGE_SEARCH = web.AppKey("knowledge_search", KnowledgeSearch)

# WeChat Official Account channel (bot/wechat)
from bot.wechat.channel import WeChatChannel  # noqa: E402
from bot.wechat.settings import WeChatSettings  # noqa: E402

WECHAT = web.AppKey("wechat", WeChatChannel)
WECHAT_SETTINGS = web.AppKey("wechat_settings", WeChatSettings)
