"""The analyst dashboard's endpoints: role check on every one (anonymous, taxpayer and agent are
refused), the page, the JSON, the transcript and the CSV export."""
from __future__ import annotations

import csv
import io

import pytest

from bot.keys import SIGNER

pytestmark = pytest.mark.asyncio
URL = "/webhooks/rest/webhook"
ENDPOINTS = [
    "/agent/analytics/api/dashboard",
    "/agent/analytics/api/conversations/{sid}",
    "/agent/analytics/api/export.csv?section=summary",
    "/agent/analytics/api/export.csv?section=ratings",
    "/agent/analytics/api/export.csv?section=low_rated",
]


async def _app(aiohttp_client, make_handoff_app, helpers):
    app = make_handoff_app()
    client = await aiohttp_client(app)
    for name, role in (("wang", "agent"), ("zhao", "analyst"), ("root", "admin")):
        await helpers["add_account"](app, name, role)
    return app, client


async def _rated_conversation(client) -> str:
    sid = (await (await client.post("/sessions")).json())["session_id"]
    await client.post(URL, json={"sender": sid, "message": "How do I file? my phone 13812345678"})
    resp = await client.post(f"/conversations/{sid}/rating", json={"score": 1, "comment": "=HYPERLINK(\"x\") useless"},
                             headers={"Authorization": f"Bearer {sid}"})
    assert resp.status == 201
    return sid


async def test_every_endpoint_refuses_anonymous_taxpayer_and_agent(aiohttp_client, make_handoff_app,
                                                                   handoff_helpers) -> None:
    app, client = await _app(aiohttp_client, make_handoff_app, handoff_helpers)
    sid = await _rated_conversation(client)
    for path in ENDPOINTS:
        url = path.format(sid=sid)
        assert (await client.get(url)).status == 401, url  # anonymous
        resp = await client.get(url, headers={"Authorization": f"Bearer {sid}"})  # a taxpayer's session
        assert resp.status == 401, url
        assert "HYPERLINK" not in await resp.text()
    await handoff_helpers["login"](client, "wang")  # an agent
    for path in ENDPOINTS:
        resp = await client.get(path.format(sid=sid))
        assert resp.status == 403, path
        assert (await resp.json())["error"]["code"] == "forbidden"


@pytest.mark.parametrize("who", ["zhao", "root"])
async def test_analyst_and_admin_see_dashboard_transcript_and_csv(aiohttp_client, make_handoff_app, handoff_helpers,
                                                                  who) -> None:
    app, client = await _app(aiohttp_client, make_handoff_app, handoff_helpers)
    sid = await _rated_conversation(client)
    conv = app[SIGNER].conversation_id(sid)  # the reference staff see
    await handoff_helpers["login"](client, who)

    resp = await client.get("/agent/analytics/api/dashboard")
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    data = await resp.json()
    s = data["summary"]
    assert s["conversations"] == 1 and s["rated"] == 1 and s["csat"] == 0.0 and s["avg_score"] == 1.0
    assert data["low_rated"][0]["conversation_id"] == conv and len(data["trend"]) == 30
    assert data["topics"][0]["article_id"] == "iit-annual-settlement"

    detail = await (await client.get(f"/agent/analytics/api/conversations/{conv}")).json()
    assert detail["rating"]["score"] == 1
    texts = [m["text"] for m in detail["messages"]]
    assert "How do I file? my phone 138****5678" in texts and "13812345678" not in str(detail)
    assert (await client.get("/agent/analytics/api/conversations/unknown")).status == 404

    resp = await client.get("/agent/analytics/api/export.csv?section=low_rated")
    assert resp.status == 200 and resp.content_type == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    header, row = rows[0], rows[1]
    assert row[header.index("conversation_id")] == conv and row[header.index("score")] == "1"
    assert row[header.index("comment")].startswith("'=HYPERLINK")  # formulas neutralised
    summary = (await (await client.get("/agent/analytics/api/export.csv?section=summary")).read()).decode("utf-8-sig")
    assert "csat,0.0" in summary and "conversations,1" in summary
    for section in ("trend", "distribution", "topics", "unanswered", "ratings"):
        assert (await client.get(f"/agent/analytics/api/export.csv?section={section}")).status == 200

    assert (await client.get("/agent/analytics/api/export.csv?section=passwords")).status == 400
    assert (await client.get("/agent/analytics/api/dashboard?from=2026-13-01")).status == 400
    assert (await client.get("/agent/analytics/api/dashboard?from=2026-03-02&to=2026-03-01")).status == 400
    channel = await (await client.get("/agent/analytics/api/dashboard?channel=socketio")).json()
    assert channel["summary"]["conversations"] == 0


async def test_pages(aiohttp_client, make_handoff_app, handoff_helpers) -> None:
    app, client = await _app(aiohttp_client, make_handoff_app, handoff_helpers)
    resp = await client.get("/analytics", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/agent/analytics/"
    page = await client.get("/agent/analytics/")
    assert page.status == 200 and "satisfaction analytics" in await page.text()  # the sign-in page, no data
    assert (await client.get("/agent/analytics/static/dashboard.js")).status == 200
    assert (await client.get("/static/analytics/feedback.js")).status == 200
