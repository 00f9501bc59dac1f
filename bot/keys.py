"""Every typed application key of the gateway, in one module (aiohttp-demos' ``typedefs.py``).

The app factory (``bot/app.py``) and the subsystems' contexts fill them; views and sockets read them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import aiohttp
import socketio
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.analytics.queries import AnalyticsQueries
from bot.analytics.settings import AnalyticsSettings
from bot.analytics.store import DurableWriter
from bot.analytics.survey import SurveyService
from bot.db.handoff_repository import HandoffRepository
from bot.db.repository import TranscriptRepository
from bot.handoff.knowledge_search import KnowledgeSearch
from bot.handoff.login_guard import LoginGuard
from bot.handoff.manager import HandoffManager
from bot.handoff.policy import HandoffPolicy
from bot.handoff.sessions import SessionStore
from bot.handoff.store import HandoffStore
from bot.health import HealthService
from bot.metrics import Metrics
from bot.ratelimit import Throttle
from bot.routing import RoutingService
from bot.service import ConversationService
from bot.sessions import SessionSigner
from bot.settings import Settings
from bot.wechat.channel import WeChatChannel
from bot.wechat.settings import WeChatSettings

if TYPE_CHECKING:
    from redis.asyncio import Redis

# gateway core (bot/app.py)
SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
SIGNER = web.AppKey("signer", SessionSigner)
ROUTING = web.AppKey("routing", RoutingService)
SIO: web.AppKey[Any] = web.AppKey("sio", socketio.AsyncServer)  # python-socketio has no types
HTTP = web.AppKey("http", aiohttp.ClientSession)
ENGINE: web.AppKey[Any] = web.AppKey("engine", AsyncEngine)  # SQLAlchemy 1.4 has no types
TRANSCRIPTS = web.AppKey("transcripts", TranscriptRepository)
REDIS: web.AppKey[Optional["Redis[bytes]"]] = web.AppKey("redis")  # None without REDIS_URL
THROTTLE = web.AppKey("throttle", Throttle)
SERVICE = web.AppKey("service", ConversationService)
HEALTH = web.AppKey("health", HealthService)
I18N_JS = web.AppKey("i18n_js", bytes)  # the pages' texts as a script (bot/i18n_view.py)

# live-agent handoff (bot/handoff)
HANDOFF = web.AppKey("handoff", HandoffManager)
HANDOFF_STORE: web.AppKey[HandoffStore] = web.AppKey("handoff_store")
HANDOFF_REPO = web.AppKey("handoff_repo", HandoffRepository)
HANDOFF_POLICY = web.AppKey("handoff_policy", HandoffPolicy)
KNOWLEDGE_SEARCH = web.AppKey("knowledge_search", KnowledgeSearch)
CONSOLE_SESSIONS: web.AppKey[SessionStore] = web.AppKey("console_sessions")  # SQL, or Redis with REDIS_URL
LOGIN_GUARD = web.AppKey("login_guard", LoginGuard)  # console login lockout and back-off

# satisfaction survey, outcomes and the dashboard (bot/analytics)
ANALYTICS_SETTINGS = web.AppKey("analytics_settings", AnalyticsSettings)
WRITER = web.AppKey("analytics_writer", DurableWriter)
SURVEY = web.AppKey("analytics_survey", SurveyService)
QUERIES = web.AppKey("analytics_queries", AnalyticsQueries)

# WeChat Official Account channel (bot/wechat)
WECHAT = web.AppKey("wechat", WeChatChannel)
WECHAT_SETTINGS = web.AppKey("wechat_settings", WeChatSettings)
