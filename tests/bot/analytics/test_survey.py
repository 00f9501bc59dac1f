"""The gateway-owned rating request, rating replies, per-answer thumbs and outcome logging (REST,
socket.io, agent resolution, idle conversations) with the fake Rasa."""
from __future__ import annotations

import asyncio

import pytest
import socketio
from sqlalchemy import select

from bot.analytics.models import answer_feedback, conversation_outcomes, conversation_ratings, unanswered_questions
from bot.analytics.setup import sweep_idle
from bot.analytics.store import AnalyticsRepository
from bot.keys import ENGINE, SERVICE, SIGNER, SURVEY, WRITER
from tests.bot.conftest import rasa_reply
from tests.socketio_client import connect_polling, leave

pytestmark = pytest.mark.asyncio
URL = "/webhooks/rest/webhook"
THANKS = "You're welcome! Is there anything else about your taxes I can help with?"  # utter_thanks in domain.yml


def reply(sender: str, message: str):
    lower = message.lower()
    if lower == "thanks":
        return [{"recipient_id": sender, "text": THANKS}, {"recipient_id": sender, "custom": {"kind": "smalltalk"}}]
    if lower == "bye":  # domain.yml's flag on utter_goodbye
        return [{"recipient_id": sender, "text": "Goodbye!",
                 "custom": {"kind": "smalltalk", "ends_conversation": True}}]
    if "weather" in lower:
        return [{"recipient_id": sender, "text": "That is outside what I can help with.",
                 "custom": {"kind": "out_of_scope", "confidence": 0.1}}]
    return rasa_reply(sender, message)


@pytest.fixture
def rasa(fake_rasa):
    fake_rasa.reply = reply
    return fake_rasa


async def _session(client) -> str:
    return (await (await client.post("/sessions")).json())["session_id"]


async def _say(client, sid, text):
    resp = await client.post(URL, json={"sender": sid, "message": text})
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def _rows(app, table, sid):
    """The stored rows of the conversation of session token (or REST sender) ``sid``."""
    conv = app[SIGNER].conversation_id(sid)
    async with app[ENGINE].connect() as conn:
        return [dict(r) for r in (await conn.execute(select(table).where(table.c.conversation_id == conv))).mappings()]


async def test_rest_survey_after_thanks_rating_update_and_plain_text(client, rasa) -> None:
    app = client.server.app
    sid = await _session(client)
    answer = (await _say(client, sid, "How does the annual settlement work?"))[0]
    assert isinstance(answer["custom"]["feedback_id"], str)

    replies = await _say(client, sid, "thanks")
    assert replies[0]["text"] == THANKS
    survey = replies[-1]
    assert survey["custom"]["kind"] == "survey" and survey["custom"]["reason"] == "thanks"
    assert "1 (poor) to 5 (excellent)" in survey["text"] and "skip" in survey["text"]  # plain-text fallback
    assert [b["title"] for b in survey["buttons"]] == ["1", "2", "3", "4", "5", "Skip"]
    assert survey["buttons"][3]["payload"] == '/rate{"score": 4}'

    received = len(rasa.received)
    thanks = await _say(client, sid, "4 very clear, 电话 13812345678")
    assert len(rasa.received) == received  # Rasa never saw the rating
    assert thanks[0]["custom"]["kind"] == "survey_thanks" and thanks[0]["custom"]["stored"] == "stored"
    (row,) = await _rows(app, conversation_ratings, sid)
    assert row["score"] == 4 and row["comment"] == "very clear, 电话 138****5678"  # masked

    updated = await _say(client, sid, '/rate{"score": 2, "comment": "second thoughts"}')  # a button: always a rating
    assert updated[0]["text"].startswith("Thank you, your rating is updated")
    (row,) = await _rows(app, conversation_ratings, sid)
    assert (row["score"], row["comment"]) == (2, "second thoughts")

    await _say(client, sid, "3")  # nothing pending any more: this goes to Rasa
    assert rasa.received[-1]["message"] == "3"
    (outcome,) = await _rows(app, conversation_outcomes, sid)
    assert outcome["end_reason"] is None  # the new message re-opened the conversation
    assert outcome["survey_requested_at"] is not None and outcome["answers"] == 2
    assert outcome["topic_article_id"] == "iit-annual-settlement" and outcome["taxpayer_messages"] == 3


async def test_goodbye_flag_skip_and_moving_on(client, rasa) -> None:
    app = client.server.app
    sid = await _session(client)
    replies = await _say(client, sid, "bye")
    assert replies[-1]["custom"]["kind"] == "survey" and replies[-1]["custom"]["reason"] == "goodbye"
    skipped = await _say(client, sid, "skip")
    assert skipped[0]["custom"]["skipped"] is True
    (row,) = await _rows(app, conversation_ratings, sid)
    assert row["skipped"] and row["score"] is None
    again = await _say(client, sid, "thanks")
    assert [r["custom"]["kind"] for r in again if r.get("custom")] == ["smalltalk"]  # not asked again

    other = await _session(client)
    await _say(client, other, "bye")
    await _say(client, other, "How do I pay VAT?")  # moved on: not a rating, goes to Rasa
    assert rasa.received[-1]["message"] == "How do I pay VAT?"
    assert await _rows(app, conversation_ratings, other) == []
    assert (await _say(client, other, "thanks"))[-1]["custom"]["kind"] == "survey"  # asked again at the next end


async def test_unanswered_question_is_logged_masked(client, rasa) -> None:
    app = client.server.app
    sid = await _session(client)
    await _say(client, sid, "weather tomorrow? call me 13812345678")
    (row,) = await _rows(app, unanswered_questions, sid)
    assert row["kind"] == "out_of_scope" and row["question"] == "weather tomorrow? call me 138****5678"
    (outcome,) = await _rows(app, conversation_outcomes, sid)
    assert outcome["unanswered"] == 1 and outcome["answers"] == 0 and outcome["language"] == "en"


async def test_feedback_and_rating_endpoints(client, rasa) -> None:
    app = client.server.app
    sid = await _session(client)
    other = await _session(client)
    answer = (await _say(client, sid, "个税怎么算"))[0]
    fid = answer["custom"]["feedback_id"]
    url = f"/conversations/{sid}/feedback"
    bearer = {"Authorization": f"Bearer {sid}"}
    assert (await client.post(url, json={"feedback_id": fid, "helpful": False})).status == 401
    assert (await client.post(url, json={"feedback_id": fid, "helpful": False},
                              headers={"Authorization": f"Bearer {other}"})).status == 403
    assert (await client.post(url, json={"feedback_id": "nope", "helpful": False}, headers=bearer)).status == 404
    assert (await client.post(url, json={"feedback_id": fid, "helpful": "yes"}, headers=bearer)).status == 400
    assert (await client.post(url, json={"feedback_id": fid, "helpful": False}, headers=bearer)).status == 201
    assert (await client.post(url, json={"feedback_id": fid, "helpful": True}, headers=bearer)).status == 201
    (row,) = await _rows(app, answer_feedback, sid)
    assert row["helpful"] is True and row["article_id"] == "iit-annual-settlement"  # the later click wins

    rate = f"/conversations/{sid}/rating"
    assert (await client.post(rate, json={"score": 6}, headers=bearer)).status == 400
    assert (await client.post(rate, json={"score": True}, headers=bearer)).status == 400
    assert (await client.post(rate, json={"score": 5}, headers={"Authorization": f"Bearer {other}"})).status == 403
    resp = await client.post(rate, json={"score": 5, "comment": "great"}, headers=bearer)
    assert resp.status == 201 and (await resp.json())["stored"] == "stored"
    (row,) = await _rows(app, conversation_ratings, sid)
    assert (row["score"], row["comment"], row["channel"]) == (5, "great", "api")


async def test_feedback_is_kept_when_the_transcript_cannot_be_read(client, rasa, monkeypatch) -> None:
    app = client.server.app
    sid = await _session(client)
    fid = (await _say(client, sid, "个税怎么算"))[0]["custom"]["feedback_id"]

    async def unreadable(*args, **kwargs):
        raise ConnectionRefusedError("database down")

    monkeypatch.setattr(app[SERVICE].transcripts, "history", unreadable)
    url, bearer = f"/conversations/{sid}/feedback", {"Authorization": f"Bearer {sid}"}
    resp = await client.post(url, json={"feedback_id": fid, "helpful": False, "article_id": "art-from-client"},
                             headers=bearer)
    assert resp.status == 201 and (await resp.json())["saved"] is True
    (row,) = await _rows(app, answer_feedback, sid)
    assert (row["feedback_id"], row["helpful"], row["article_id"]) == (fid, False, "art-from-client")


async def test_idle_conversation_is_asked(client, rasa) -> None:
    app = client.server.app
    sid = await _session(client)
    await _say(client, sid, "个税怎么算")
    assert await sweep_idle(AnalyticsRepository(app[ENGINE]), app[SURVEY], 0.0) == 1
    assert await sweep_idle(AnalyticsRepository(app[ENGINE]), app[SURVEY], 0.0) == 0  # once
    bearer = {"Authorization": f"Bearer {sid}"}
    history = await (await client.get(f"/conversations/{sid}/history", headers=bearer)).json()
    assert history[-1]["kind"] == "survey" and history[-1]["sender"] == "system"
    thanks = await _say(client, sid, "5")
    assert thanks[0]["custom"]["kind"] == "survey_thanks"
    (outcome,) = await _rows(app, conversation_outcomes, sid)
    assert outcome["end_reason"] == "idle"
    (row,) = await _rows(app, conversation_ratings, sid)
    assert row["score"] == 5


async def test_socketio_survey_and_rating(client, rasa) -> None:
    app = client.server.app
    sio = socketio.AsyncClient(reconnection=False)
    events: asyncio.Queue = asyncio.Queue()
    confirmed: asyncio.Queue = asyncio.Queue()
    sio.on("bot_uttered", lambda data: events.put_nowait(data))
    sio.on("session_confirm", lambda data: confirmed.put_nowait(data))
    await connect_polling(sio, str(client.make_url("/")))
    try:
        await sio.emit("session_request", {})
        sid = await asyncio.wait_for(confirmed.get(), 5)
        await sio.emit("user_uttered", {"session_id": sid, "message": "thanks"})
        # as Rasa's socket.io channel: each message's text (with quick_replies), then its custom json alone
        got = [await asyncio.wait_for(events.get(), 5) for _ in range(4)]
        assert got[1] == {"kind": "smalltalk"}
        question, survey = got[2], got[3]
        assert survey["kind"] == "survey"
        assert [q["payload"] for q in question["quick_replies"]][-1] == "/rate_skip"
        await sio.emit("user_uttered", {"session_id": sid, "message": '/rate{"score": 5, "comment": "nice"}'})
        thanks = [await asyncio.wait_for(events.get(), 5) for _ in range(2)]
        assert "text" in thanks[0] and thanks[1]["kind"] == "survey_thanks"
    finally:
        await leave(sio)
    (row,) = await _rows(app, conversation_ratings, sid)
    assert (row["score"], row["comment"], row["channel"]) == (5, "nice", "socketio")


async def test_agent_resolution_asks_for_rating(aiohttp_client, make_handoff_app, handoff_helpers, rasa) -> None:
    app = make_handoff_app()
    client = await aiohttp_client(app)
    await handoff_helpers["add_account"](app, "wang", "agent")
    csrf = await handoff_helpers["login"](client, "wang")
    csrf_header = {"X-CSRF-Token": csrf}
    assert (await client.post("/agent/api/presence", json={"status": "online"}, headers=csrf_header)).status == 200
    sid = await _session(client)
    await _say(client, sid, "agent please")
    conv = app[SIGNER].conversation_id(sid)
    assert (await client.post(f"/agent/api/conversations/{conv}/claim", headers={"X-CSRF-Token": csrf})).status == 200
    assert await _say(client, sid, "my refund?") == []
    resp = await client.post(f"/agent/api/conversations/{conv}/close", json={"outcome": "resolved"},
                             headers=csrf_header)
    assert resp.status == 200
    bearer = {"Authorization": f"Bearer {sid}"}
    polled = await (await client.get(f"/conversations/{sid}/messages?after=0", headers=bearer)).json()
    assert polled["messages"][-1]["kind"] == "survey"  # REST clients poll it like the agent's messages
    thanks = await _say(client, sid, "5 the officer was great")
    assert thanks[0]["custom"]["kind"] == "survey_thanks"
    (outcome,) = await _rows(app, conversation_outcomes, sid)
    assert outcome["end_reason"] == "agent_resolved" and outcome["agent_joined"] and outcome["handoff_requested"]
    (row,) = await _rows(app, conversation_ratings, sid)
    assert (row["score"], row["comment"]) == (5, "the officer was great")
    assert app[WRITER].pending == 0


@pytest.mark.parametrize("text, pending, expected", [
    ("4", True, {"score": 4, "comment": None}),
    ("4 very clear", True, {"score": 4, "comment": "very clear"}),
    ("2: slow answer", True, {"score": 2, "comment": "slow answer"}),
    ("５分 很好", True, {"score": 5, "comment": "很好"}),
    ("3/5", True, {"score": 3, "comment": None}),
    ("skip", True, {"skip": True}),
    ("跳过", True, {"skip": True}),
    ("45", True, None),
    ("4.5", True, None),
    ("3 questions about VAT?", True, None),
    ("4", False, None),  # nothing pending: an ordinary message
    ('/rate{"score": 5, "comment": "ok"}', False, {"score": 5, "comment": "ok"}),
    ('/rate{"score": 9}', False, None),
    ("/rate_skip", False, {"skip": True}),
])
async def test_parse_rating(text, pending, expected) -> None:
    from bot.analytics.survey import parse_rating

    assert parse_rating(text, pending) == expected
