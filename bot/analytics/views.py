"""HTTP endpoints of satisfaction logging and of the analyst dashboard.

Taxpayer (``Authorization: Bearer <session id>`` of that conversation):
  POST /conversations/{id}/rating    {"score": 1..5, "comment"?} or {"skip": true}
  POST /conversations/{id}/feedback  {"feedback_id", "helpful": true|false}

Analyst dashboard (signed in through the agent console's login with role analyst or admin; the
console cookie is scoped to /agent, so the dashboard lives under /agent/analytics; /analytics
redirects there):
  GET /agent/analytics/                              the page (sign-in form when not signed in)
  GET /agent/analytics/api/dashboard?from&to&channel&language
  GET /agent/analytics/api/conversations/{id}        masked transcript with rating and feedback
  GET /agent/analytics/api/export.csv?section=...&from&to&channel&language
"""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence

from aiohttp import web

from bot.analytics.clock import BEIJING
from bot.analytics.queries import AnalyticsQueries, Filters
from bot.analytics.store import BufferFull
from bot.errors import ApiError, dumps
from bot.handoff.audit import record_access
from bot.handoff.auth import require_role
from bot.http import conversation_owner, limit_writes, read_object
from bot.keys import QUERIES, SERVICE, SETTINGS, SURVEY
from bot.privacy import mask_pii

STATIC = Path(__file__).resolve().parent.parent / "static" / "analytics"
NO_STORE = {"Cache-Control": "no-store"}
ANALYST_ROLES = ("analyst", "admin")
MAX_DAYS = 366
SECTIONS = ("summary", "trend", "distribution", "topics", "unanswered", "low_rated", "ratings")

#: Every dashboard endpoint: the agent console's session with role analyst or admin (401 when not
#: signed in, 403 for other roles).
require_analyst = require_role(*ANALYST_ROLES)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, headers=NO_STORE, dumps=dumps)


# --------------------------------------------------------------------------- taxpayer


async def rate(request: web.Request) -> web.Response:
    """Rate the conversation 1..5 (a second rating replaces the first) or skip."""
    conversation_id = conversation_owner(request)
    await limit_writes(request, conversation_id)
    body = await read_object(request)
    skip = body.get("skip") is True
    score = body.get("score")
    comment = body.get("comment")
    if not skip and (isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5):
        raise ApiError(400, "invalid_score", "score must be an integer from 1 to 5 (or send {\"skip\": true})")
    if comment is not None and not isinstance(comment, str):
        raise ApiError(400, "invalid_comment", "comment must be a string")
    max_chars = request.app[SETTINGS].max_message_chars
    if comment is not None and len(comment) > max_chars:
        raise ApiError(400, "too_long", f"comment must be at most {max_chars} characters")
    comment = mask_pii(comment.strip())[:1000] if comment and comment.strip() else None
    reply = await request.app[SURVEY].rate(conversation_id, None if skip else score, comment, "api", skip=skip)
    if not reply["custom"].get("saved"):
        raise ApiError(503, "rating_not_saved", "the rating could not be saved; try again later")
    return _json({"saved": True, "stored": reply["custom"]["stored"], "message": reply}, status=201)


async def feedback(request: web.Request) -> web.Response:
    """Thumbs up/down on one answer (its ``custom.feedback_id``)."""
    conversation_id = conversation_owner(request)
    await limit_writes(request, conversation_id)
    body = await read_object(request)
    feedback_id, helpful = body.get("feedback_id"), body.get("helpful")
    if not isinstance(feedback_id, str) or not 1 <= len(feedback_id) <= 64:
        raise ApiError(400, "invalid_feedback_id", "feedback_id must be the answer's custom.feedback_id")
    if not isinstance(helpful, bool):
        raise ApiError(400, "invalid_helpful", "helpful must be true or false")
    article_id: Optional[str] = None
    found = False
    try:
        for row in await request.app[SERVICE].history(conversation_id):
            custom = row.get("custom") or {}
            if custom.get("feedback_id") == feedback_id:
                article_id, found = row.get("article_id"), True
                break
    except Exception:  # database down: keep the feedback, trust the client's article id
        given = body.get("article_id")
        article_id, found = (given[:128] if isinstance(given, str) else None), True
    if not found:
        raise ApiError(404, "unknown_answer", "no answer with that feedback_id in this conversation")
    try:
        stored = await request.app[SURVEY].feedback(conversation_id, feedback_id, helpful, article_id)
    except BufferFull:
        raise ApiError(503, "feedback_not_saved", "the feedback could not be saved; try again later") from None
    return _json({"saved": True, "stored": stored, "helpful": helpful}, status=201)


# --------------------------------------------------------------------------- dashboard


def _date(raw: Optional[str], default: date) -> date:
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, "invalid_date", "dates must be YYYY-MM-DD") from None


#: The days a dashboard period may cover (the service's data starts long after the first; the Beijing-to-UTC
#: shift of a date at the calendar's edges would overflow).
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)


def _check_in_range(day: date, name: str) -> None:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ApiError(400, "invalid_date", f"{name} must be between {FIRST_DAY} and {LAST_DAY}")


def filters(request: web.Request) -> Filters:
    """The period and filters of a dashboard request (the last 30 Beijing days by default)."""
    today = datetime.now(BEIJING).date()
    end = _date(request.query.get("to"), today)
    _check_in_range(end, "to")
    start = _date(request.query.get("from"), max(FIRST_DAY, end - timedelta(days=29)))
    _check_in_range(start, "from")
    if start > end:
        raise ApiError(400, "invalid_range", "from must not be after to")
    if (end - start).days >= MAX_DAYS:
        raise ApiError(400, "invalid_range", f"the period may be at most {MAX_DAYS} days")
    channel = (request.query.get("channel") or "").strip()[:32] or None
    language = (request.query.get("language") or "").strip()[:8] or None
    return Filters(start, end, channel, language)


async def page(request: web.Request) -> web.StreamResponse:
    """The dashboard page (it shows a sign-in form when the console session is missing)."""
    return web.FileResponse(STATIC / "index.html", headers=NO_STORE)


async def redirect(request: web.Request) -> web.StreamResponse:
    """The dashboard lives under /agent, where the console cookie is sent."""
    raise web.HTTPFound("/agent/analytics/")


@require_analyst
async def dashboard(request: web.Request) -> web.Response:
    """Every figure and list of the dashboard for the requested period."""
    return _json(await request.app[QUERIES].dashboard(filters(request)))


@require_analyst
async def conversation(request: web.Request) -> web.Response:
    """One conversation's masked transcript with its outcome, rating and answer votes; logged."""
    conversation_id = request.match_info["conversation_id"]
    data = await request.app[QUERIES].conversation(conversation_id, request.app[SETTINGS].history_limit)
    if data is None:
        raise ApiError(404, "not_found", "no such conversation")
    await record_access(request, "transcript", conversation_id=conversation_id)
    return _json(data)


Record = Mapping[str, object]


def _cell(value: object) -> object:
    """Spreadsheet-safe cell: formulas are neutralised."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def _table(records: Sequence[Record]) -> List[List[object]]:
    """A header of the records' keys, then one line per record."""
    if not records:
        return [["(no rows)"]]
    columns = list(records[0].keys())
    return [list(columns), *([r.get(c) for c in columns] for r in records)]


async def _section(q: AnalyticsQueries, section: str, f: Filters) -> List[List[object]]:
    if section == "summary":
        summary = {**f.as_dict(), **await q.summary(f), **await q.feedback_totals(f)}
        return [["metric", "value"], *([k, v] for k, v in summary.items())]
    records: Sequence[Record]
    if section == "trend":
        records = await q.trend(f)
    elif section == "distribution":
        records = await q.distribution(f)
    elif section == "topics":
        records = await q.topics(f, limit=500)
    elif section == "unanswered":
        records = (await q.unanswered(f, limit=5000))["top"]
    elif section == "low_rated":
        records = await q.low_rated(f, limit=10_000)
    else:
        records = await q.rated(f, limit=100_000)
    return _table(records)


@require_analyst
async def export_csv(request: web.Request) -> web.StreamResponse:
    """One section of the dashboard as a CSV file (UTF-8 with a BOM, for Excel)."""
    section = request.query.get("section", "summary")
    if section not in SECTIONS:
        raise ApiError(400, "invalid_section", f"section must be one of {list(SECTIONS)}")
    f = filters(request)
    buf = io.StringIO()
    writer = csv.writer(buf)
    for row in await _section(request.app[QUERIES], section, f):
        writer.writerow([_cell(v) for v in row])
    name = f"taxguide-{section}-{f.start.isoformat()}-{f.end.isoformat()}.csv"
    return web.Response(
        body=("\ufeff" + buf.getvalue()).encode("utf-8"),  # BOM: Excel opens UTF-8 (Chinese) correctly
        content_type="text/csv", charset="utf-8",
        headers={**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'},
    )


def setup_analytics_routes(app: web.Application) -> None:
    """Add the taxpayer's rating and feedback endpoints and the dashboard's page, API and static files."""
    r = app.router
    r.add_post("/conversations/{conversation_id}/rating", rate)
    r.add_post("/conversations/{conversation_id}/feedback", feedback)
    r.add_get("/analytics", redirect)
    r.add_get("/analytics/", redirect)
    r.add_get("/agent/analytics", redirect)
    r.add_get("/agent/analytics/", page)
    r.add_get("/agent/analytics/api/dashboard", dashboard)
    r.add_get("/agent/analytics/api/conversations/{conversation_id}", conversation)
    r.add_get("/agent/analytics/api/export.csv", export_csv)
    r.add_static("/agent/analytics/static/", STATIC, show_index=False, follow_symlinks=False)
