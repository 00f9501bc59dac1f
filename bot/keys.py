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
