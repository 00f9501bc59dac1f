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
import hmac
import io
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Optional

from aiohttp import web

from bot.analytics.queries import BEIJING, AnalyticsQueries, Filters
from bot.analytics.store import BufferFull
from bot.errors import ApiError, dumps
from bot.keys import QUERIES, SERVICE, SETTINGS, SIGNER, SURVEY
from bot.validation import decode_json_body

STATIC = Path(__file__).resolve().parent.parent / "static" / "analytics"
NO_STORE = {"Cache-Control": "no-store"}
ANALYST_ROLES = ("analyst", "admin")
MAX_DAYS = 366
SECTIONS = ("summary", "trend", "distribution", "topics", "unanswered", "low_rated", "ratings")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def require_analyst(handler: Handler) -> Handler:
    """Role check of every dashboard endpoint: the agent console's session with role analyst/admin
    (401 when not signed in, 403 for other roles)."""
    from bot.handoff.auth import require_role

    return require_role(*ANALYST_ROLES)(handler)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, headers=NO_STORE, dumps=dumps)


# --------------------------------------------------------------------------- taxpayer


def _owner(request: web.Request) -> str:
    conversation_id = request.match_info["conversation_id"]
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <session_id>'")
    if not request.app[SIGNER].is_valid(token) or not hmac.compare_digest(token.encode(), conversation_id.encode()):
        raise ApiError(403, "forbidden", "this session may not access that conversation")
    return conversation_id


async def _body(request: web.Request) -> Dict[str, Any]:
    data = decode_json_body(await request.read())
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_type", "the body must be a JSON object")
    return data


async def rate(request: web.Request) -> web.Response:
    """Rate the conversation 1..5 (a second rating replaces the first) or skip."""
    conversation_id = _owner(request)
    body = await _body(request)
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
    from bot.privacy import mask_pii

    comment = mask_pii(comment.strip())[:1000] if comment and comment.strip() else None
    reply = await request.app[SURVEY].rate(conversation_id, None if skip else score, comment, "api", skip=skip)
    if not reply["custom"].get("saved"):
        raise ApiError(503, "rating_not_saved", "the rating could not be saved; try again later")
    return _json({"saved": True, "stored": reply["custom"]["stored"], "message": reply}, status=201)


async def feedback(request: web.Request) -> web.Response:
    """Thumbs up/down on one answer (its ``custom.feedback_id``)."""
    conversation_id = _owner(request)
    body = await _body(request)
    feedback_id, helpful = body.get("feedback_id"), body.get("helpful")
    if not isinstance(feedback_id, str) or not 1 <= len(feedback_id) <= 64:
        raise ApiError(400, "invalid_feedback_id", "feedback_id must be the answer's custom.feedback_id")
    if not isinstance(helpful, bool):
        raise ApiError(400, "invalid_helpful", "helpful must be true or false")
    article_id: Optional[str] = None
    found = False
    try:
        for row in await request.app[SERVICE].transcripts.history(conversation_id, request.app[SETTINGS].history_limit):
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


def filters(request: web.Request) -> Filters:
    from datetime import datetime

    today = datetime.now(BEIJING).date()
    end = _date(request.query.get("to"), today)
    start = _date(request.query.get("from"), end - timedelta(days=29))
    if start > end:
        raise ApiError(400, "invalid_range", "from must not be after to")
    if (end - start).days >= MAX_DAYS:
        raise ApiError(400, "invalid_range", f"the period may be at most {MAX_DAYS} days")
    channel = (request.query.get("channel") or "").strip()[:32] or None
    language = (request.query.get("language") or "").strip()[:8] or None
    return Filters(start, end, channel, language)


async def page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html", headers=NO_STORE)


async def redirect(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/agent/analytics/")


@require_analyst
async def dashboard(request: web.Request) -> web.Response:
    return _json(await request.app[QUERIES].dashboard(filters(request)))


@require_analyst
async def conversation(request: web.Request) -> web.Response:
    data = await request.app[QUERIES].conversation(request.match_info["conversation_id"], request.app[SETTINGS].history_limit)
    if data is None:
        raise ApiError(404, "not_found", "no such conversation")
    return _json(data)


def _cell(value: Any) -> Any:
    """Spreadsheet-safe cell: formulas are neutralised."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def _rows(section: str, data: Any) -> Iterable[List[Any]]:
    if section == "summary":
        yield ["metric", "value"]
        for k, v in data.items():
            yield [k, v]
        return
    rows: List[Dict[str, Any]] = data
    if not rows:
        yield ["(no rows)"]
        return
    columns = list(rows[0].keys())
    yield columns
    for r in rows:
        yield [r.get(c) for c in columns]


@require_analyst
async def export_csv(request: web.Request) -> web.StreamResponse:
    section = request.query.get("section", "summary")
    if section not in SECTIONS:
        raise ApiError(400, "invalid_section", f"section must be one of {list(SECTIONS)}")
    f = filters(request)
    q: AnalyticsQueries = request.app[QUERIES]
    if section == "summary":
        data: Any = {**f.as_dict(), **await q.summary(f), **await q.feedback_totals(f)}
    elif section == "trend":
        data = await q.trend(f)
    elif section == "distribution":
        data = await q.distribution(f)
    elif section == "topics":
        data = await q.topics(f, limit=500)
    elif section == "unanswered":
        data = (await q.unanswered(f, limit=5000))["top"]
    elif section == "low_rated":
        data = await q.low_rated(f, limit=10_000)
    else:
        data = await q.rated(f, limit=100_000)
    buf = io.StringIO()
    writer = csv.writer(buf)
    for row in _rows(section, data):
        writer.writerow([_cell(v) for v in row])
    name = f"taxguide-{section}-{f.start.isoformat()}-{f.end.isoformat()}.csv"
    return web.Response(
        body=("\ufeff" + buf.getvalue()).encode("utf-8"),  # BOM: Excel opens UTF-8 (Chinese) correctly
        content_type="text/csv", charset="utf-8",
        headers={**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'},
    )


def setup_analytics_routes(app: web.Application) -> None:
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
