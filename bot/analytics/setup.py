"""Wires satisfaction logging and the dashboard into the gateway app."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import AsyncIterator

from aiohttp import web

from bot.analytics.clock import utcnow
from bot.analytics.queries import AnalyticsQueries
from bot.analytics.settings import AnalyticsSettings
from bot.analytics.store import AnalyticsRepository, DurableWriter
from bot.analytics.survey import Deliver, SurveyService, SurveyState, ending_texts
from bot.analytics.views import setup_analytics_routes
from bot.keys import ANALYTICS_SETTINGS, ENGINE, METRICS, QUERIES, REDIS, SURVEY, WRITER
from bot.settings import PROJECT_ROOT, Settings
from bot.tasks import background

log = logging.getLogger(__name__)

#: Idle conversations are looked for among those active within this long before the idle limit.
IDLE_LOOKBACK = timedelta(hours=6)


def setup_analytics(app: web.Application, settings: Settings) -> None:
    """Add the dashboard and feedback routes and the durable writer; the app factory builds the survey."""
    app[ANALYTICS_SETTINGS] = settings.analytics_settings
    setup_analytics_routes(app)
    app.cleanup_ctx.append(analytics_ctx)


def build_survey(app: web.Application, deliver: Deliver) -> SurveyService:
    """The survey over this app's writer and state store; ``deliver`` reaches taxpayers outside a turn."""
    return SurveyService(app[WRITER], SurveyState(app[REDIS]), ending_texts(PROJECT_ROOT / "domain.yml"), deliver)


async def analytics_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the durable writer (and its spool) and the queries; run the writer and the idle-survey sweep."""
    conf = app[ANALYTICS_SETTINGS]
    metrics = app[METRICS]
    repo = AnalyticsRepository(app[ENGINE])
    writer = DurableWriter(repo, conf.spool_path, conf.buffer_max, conf.retry_seconds, conf.db_timeout, metrics.error)
    writer.load_spool()
    app[WRITER] = writer
    app[QUERIES] = AnalyticsQueries(app[ENGINE])
    loops = [writer.run()] + ([_idle_loop(app, repo, conf)] if conf.idle_seconds > 0 else [])
    async with background(*loops):
        yield
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.flush(), 2.0)  # what stays buffered is in the spool file
    if writer.pending:
        log.warning("analytics: %d write(s) left in %s for the next start", writer.pending, conf.spool_path)


async def _idle_loop(app: web.Application, repo: AnalyticsRepository, conf: AnalyticsSettings) -> None:
    """Ask for a rating when a conversation has been idle for SURVEY_IDLE_SECONDS."""
    while True:
        await asyncio.sleep(conf.sweep_seconds)
        survey = app.get(SURVEY)  # built by the app factory's services_ctx, after this context opened
        if survey is None:
            continue
        try:
            await sweep_idle(repo, survey, conf.idle_seconds)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("idle survey sweep failed: %s", type(exc).__name__)


async def sweep_idle(repo: AnalyticsRepository, survey: SurveyService, idle_seconds: float) -> int:
    """Claim the conversations idle for ``idle_seconds`` and ask each for a rating; returns how many."""
    idle_before = utcnow() - timedelta(seconds=idle_seconds)
    claimed = await repo.claim_idle(idle_before, idle_before - IDLE_LOOKBACK)
    for row in claimed:
        await survey.request_survey(row["conversation_id"], "idle", row["channel"], record_end=False)
    return len(claimed)
