"""The manager's parts over fakes: refusals as domain errors, closed-case listeners, the turn hook's
guard, fan-out to taxpayer channels, and the console summary of a waiting conversation."""
from __future__ import annotations

import pytest

from bot.errors import DomainError, ErrorKind
from bot.handoff.model import HandoffError, HandoffRecord, Status
from bot.handoff.store import MemoryHandoffStore
from bot.handoff.summary import summarize
from bot.hooks import HandoffClosed, Turn
from bot.routing import Route


async def _claimed(manager, conv="c1", agent="wang"):
    await manager.store.enqueue(HandoffRecord(conv, reason="requested", language="en", queued_at=1.0))
    await manager.agents.set_presence(agent, "online")
    await manager.agents.claim(conv, agent, agent.title())


@pytest.mark.parametrize(("call", "kind", "code"), [
    (lambda m: m.agents.set_presence("wang", "busy"), ErrorKind.INVALID, "invalid_presence"),
    (lambda m: m.agents.claim("c1", "li", "Li"), ErrorKind.CONFLICT, "not_online"),
    (lambda m: m.agents.close("c1", "wang", "done"), ErrorKind.INVALID, "invalid_outcome"),
    (lambda m: m.agents.close("c1", "li", "resolved"), ErrorKind.FORBIDDEN, "forbidden"),
    (lambda m: m.agents.send("zz", "wang", "Wang", "hi"), ErrorKind.CONFLICT, "not_claimed"),
    (lambda m: m.agents.close_ticket(7, "wang"), ErrorKind.CONFLICT, "not_open"),
    (lambda m: m.taxpayers.create_ticket("c9", "call me", "fax", None), ErrorKind.INVALID, "invalid_contact_method"),
    (lambda m: m.taxpayers.create_ticket("c9", "call me", "phone", " "), ErrorKind.INVALID, "missing_contact"),
    (lambda m: m.console.readable("nothing", "wang", admin=False), ErrorKind.NOT_FOUND, "not_found"),
])
async def test_refusals_are_domain_errors(make_manager, call, kind, code) -> None:
    manager = make_manager()
    await _claimed(manager)
    with pytest.raises(HandoffError) as refused:
        await call(manager)
    assert isinstance(refused.value, DomainError) and refused.value.kind is kind and refused.value.code == code


async def test_closing_tells_every_listener_even_after_one_fails(make_manager) -> None:
    manager = make_manager()
    heard = []

    class Broken:
        async def handoff_closed(self, event: HandoffClosed) -> None:
            raise RuntimeError("survey down")

    class Survey:
        async def handoff_closed(self, event: HandoffClosed) -> None:
            heard.append(event)

    manager.add_closed_listener(Broken())
    manager.add_closed_listener(Survey())
    await _claimed(manager)
    await manager.agents.close("c1", "wang", "resolved")
    assert heard == [HandoffClosed("c1", "wang", "resolved")]
    assert manager.fakes["errors"] == ["handoff"]
    assert (await manager.store.get("c1")).status is Status.RESOLVED
    assert manager.fakes["events"].routes["c1"] == "bot" and manager.fakes["rasa"].calls[-1] == ("resume", "c1")


async def test_a_broken_store_never_costs_the_bot_answer(make_manager) -> None:
    class Down(MemoryHandoffStore):
        async def get(self, conv_id):
            raise ConnectionError("redis down")

    manager = make_manager(store=Down())
    turn = Turn("c1", "agent please", "rest", Route.BOT)
    replies = [{"recipient_id": "c1", "text": "connecting", "custom": {"kind": "handoff", "reason": "requested"}}]
    assert await manager.after_turn(turn, replies) == []
    assert await manager.before_turn(Turn("c1", "/handoff_cancel", "rest", Route.BOT)) is None
    assert manager.fakes["errors"] == ["handoff", "handoff"]


async def test_the_cancel_payload_is_answered_by_the_gateway(make_manager) -> None:
    manager = make_manager()
    assert await manager.before_turn(Turn("c1", "hello", "rest", Route.BOT)) is None
    (reply,) = await manager.before_turn(Turn("c1", " /handoff_cancel ", "rest", Route.BOT))
    assert reply["custom"] == {"kind": "handoff_cancelled", "cancelled": False}


async def test_fanout_reaches_every_subscriber_despite_one_failing(make_manager) -> None:
    manager = make_manager()
    got = []

    class Broken:
        async def taxpayer_message(self, conversation_id, message, event_id):
            raise RuntimeError("wechat down")

        async def taxpayer_status(self, conversation_id, status):
            raise RuntimeError("wechat down")

    class Sockets:
        async def taxpayer_message(self, conversation_id, message, event_id):
            got.append(("message", conversation_id, message["text"], event_id))

        async def taxpayer_status(self, conversation_id, status):
            got.append(("status", conversation_id, status))

    manager.add_subscriber(Broken())
    manager.add_subscriber(Sockets())
    await manager.store.enqueue(HandoffRecord("c1", reason="requested", queued_at=1.0))
    await manager.store.enqueue(HandoffRecord("c2", reason="requested", queued_at=2.0))
    await manager.fanout.dispatch({"type": "to_taxpayer", "conversation_id": "c1", "message": {"text": "hi"},
                                   "event_id": "e1"})
    await manager.fanout.dispatch({"type": "queue_changed"})
    assert got == [("message", "c1", "hi", "e1"), ("status", "c1", {"status": "queued", "position": 1}),
                   ("status", "c2", {"status": "queued", "position": 2})]
    assert manager.fakes["errors"] == ["handoff"] * 3


async def test_stats_name_an_observed_median_wait(make_manager) -> None:
    manager = make_manager()
    assert (await manager.console.stats())["median_wait_seconds"] is None
    for conv, waited in (("a", 4.0), ("b", 1.0), ("c", 3.0), ("d", 2.0)):
        await manager.effects.event(conv, "claimed", agent="wang", data={"waited_seconds": waited})
    stats = await manager.console.stats()
    assert stats == {"events": {"claimed": 4}, "claims": 4, "median_wait_seconds": 3.0, "waiting_now": 0}


def test_the_summary_keeps_the_last_three_answers_and_finds_the_topic() -> None:
    history = [
        {"sender_type": "taxpayer", "text": "how do I file", "kind": None, "confidence": None, "article_id": None},
        {"sender_type": "bot", "text": "a" * 500, "kind": "answer", "confidence": 0.9, "article_id": "iit-annual",
         "custom": {"title": "Annual settlement"}},
        {"sender_type": "bot", "text": "hi", "kind": "smalltalk", "confidence": None, "article_id": None},
        {"sender_type": "agent", "text": "ignored", "kind": "agent_message", "confidence": None, "article_id": None},
        {"sender_type": "bot", "text": "b", "kind": "answer", "confidence": 0.5, "article_id": "vat", "custom": None},
    ]
    replies = [{"text": "c", "custom": {"kind": "fallback", "confidence": None}},
               {"text": "connecting", "custom": {"kind": "handoff"}}]
    answers, topic = summarize(history, "agent please", replies)
    assert [(a["kind"], a["article_id"]) for a in answers] == [("answer", "iit-annual"), ("answer", "vat"),
                                                                 ("fallback", None)]
    assert len(answers[0]["text"]) == 300 and answers[0]["title"] == "Annual settlement"
    assert topic == "vat"  # the last answer with an article
    assert summarize([], "I need help with my refund", [])[1] == "I need help with my refund"
    assert summarize([], "", [])[1] is None
