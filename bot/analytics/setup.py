"""Wires satisfaction logging and the dashboard into the gateway app."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any, AsyncIterator, Dict, Optional

from aiohttp import web

from bot import keys
from bot.analytics.queries import AnalyticsQueries
from bot.analytics.settings import AnalyticsSettings
from bot.analytics.store import AnalyticsRepository, DurableWriter, utcnow
from bot.analytics.survey import SurveyService, SurveyState, ending_texts
from bot.analytics.views import setup_analytics_routes
from bot.db.repository import TranscriptEntry
from bot.keys import ENGINE, METRICS, REDIS, SERVICE, SIO
from bot.settings import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)

ANALYTICS_SETTINGS = web.AppKey("analytics_settings", AnalyticsSettings)
WRITER = web.AppKey("analytics_writer", DurableWriter)
SURVEY = web.AppKey("analytics_survey", SurveyService)
QUERIES = web.AppKey("analytics_queries", AnalyticsQueries)


def setup_analytics(app: web.Application, settings: Settings, analytics: Optional[AnalyticsSettings] = None) -> None:
    app[ANALYTICS_SETTINGS] = analytics or AnalyticsSettings.from_env(settings.database_url)
    setup_analytics_routes(app)
    app.cleanup_ctx.append(analytics_ctx)
    app.on_startup.append(_attach)  # after every cleanup_ctx: the service and the handoff exist


async def analytics_ctx(app: web.Application) -> AsyncIterator[None]:
    conf = app[ANALYTICS_SETTINGS]
    metrics = app[METRICS]
    repo = AnalyticsRepository(app[ENGINE])
    writer = DurableWriter(repo, conf.spool_path, conf.buffer_max, conf.retry_seconds, conf.db_timeout, metrics.error)
    writer.load_spool()
    survey = SurveyService(writer, SurveyState(app.get(REDIS)), ending_texts(PROJECT_ROOT / "domain.yml"))
    app[WRITER] = writer
    app[SURVEY] = survey
    app[QUERIES] = AnalyticsQueries(app[ENGINE])
    tasks = [asyncio.create_task(writer.run())]
    if conf.idle_seconds > 0:
        tasks.append(asyncio.create_task(_idle_loop(app, repo, survey, conf)))
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.flush(), 2.0)  # what stays buffered is in the spool file
    if writer.pending:
        log.warning("analytics: %d write(s) left in %s for the next start", writer.pending, conf.spool_path)


async def _attach(app: web.Application) -> None:
    survey = app[SURVEY]
    app[SERVICE].analytics = survey

    async def deliver(conversation_id: str, message: Dict[str, Any]) -> None:
        """Store the rating request (REST clients poll it as a 'system' message) and push it to sockets."""
        payload = {k: message[k] for k in ("buttons", "custom") if k in message}
        with contextlib.suppress(Exception):
            await app[SERVICE].transcripts.add([TranscriptEntry(conversation_id, "system", "survey", message["text"],
                                                                kind="survey", payload=payload)])
        handoff_key = getattr(keys, "HANDOFF", None)
        manager = app.get(handoff_key) if handoff_key is not None else None
        if manager is not None:
            await manager.store.publish({"type": "to_taxpayer", "conversation_id": conversation_id, "message": message})
        else:
            from bot.socket_channel import BOT_EVENT, to_socket_events

            for event in to_socket_events(message):
                await app[SIO].emit(BOT_EVENT, event, room=conversation_id)

    survey.deliver = deliver
    handoff_key = getattr(keys, "HANDOFF", None)
    manager = app.get(handoff_key) if handoff_key is not None else None
    if manager is not None and not getattr(manager, "_survey_wrapped", False):
        close = manager.close

        async def close_then_survey(conv_id: str, user: Dict[str, str], outcome: str) -> None:
            await close(conv_id, user, outcome)
            if outcome == "resolved":  # the agent resolved it: ask the taxpayer for a rating
                await survey.request_survey(conv_id, "agent_resolved")

        manager.close = close_then_survey
        manager._survey_wrapped = True


async def _idle_loop(app: web.Application, repo: AnalyticsRepository, survey: SurveyService, conf: AnalyticsSettings) -> None:
    """Ask for a rating when a conversation has been idle for SURVEY_IDLE_SECONDS."""
    while True:
        await asyncio.sleep(conf.sweep_seconds)
        try:
            await sweep_idle(repo, survey, conf.idle_seconds)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("idle survey sweep failed: %s", type(exc).__name__)


async def sweep_idle(repo: AnalyticsRepository, survey: SurveyService, idle_seconds: float) -> int:
    now = utcnow()
    claimed = await repo.claim_idle(now - timedelta(seconds=idle_seconds), now - timedelta(seconds=idle_seconds + 6 * 3600))
    for row in claimed:
        await survey.request_survey(row["conversation_id"], "idle", row["channel"], record_end=False)
    return len(claimed)
