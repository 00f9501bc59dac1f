"""The REST channel's parse cache on the trained model: a cached parse is the parse Rasa makes itself.

Rasa's processor parses a message with the conversation's tracker; the channel parses it once, without
one, and reuses that parse for the same text, language preference and model. These tests hold the two
equal on the trained model (English, Chinese, mixed, a figure with and without the page's language, a
button payload), turn by turn through the agent, and show that two workers share parses through Redis.
"""
from __future__ import annotations

import asyncio
import socket
import uuid
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from rasa.core.channels.channel import UserMessage
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from nlu.channel import CachedParseRestInput
from nlu.parse import load_agent
from nlu.parse_cache import MemoryParseCache, RedisParseCache, parse_key
from scripts import stack
from tests.ci import unavailable

TEXTS: List[Dict[str, Any]] = [
    {"text": "hello there"},
    {"text": "what is the VAT rate for consulting services"},
    {"text": "年终奖怎么交个税"},
    {"text": "IIT 汇算 deadline 是哪天"},
    {"text": "12000", "metadata": {"language": "zh"}},
    {"text": "12000", "metadata": {"language": "en"}},
    {"text": "12000"},
    {"text": '/ask_tax_question{"article_id": "iit-basic-deduction"}'},
    {"text": "我要找人工 退税被驳回两次了"},
]


@pytest.fixture(scope="module")
def agent() -> Any:
    """The trained model's agent (no action server: only the parses are compared)."""
    env = stack.environment()
    model = Path(env["TAXGUIDE_MODEL"]) if env.get("TAXGUIDE_MODEL") else stack.train(env)
    with warnings.catch_warnings():  # loading Rasa here, not at import: its dependencies' deprecation noise
        warnings.simplefilter("ignore", DeprecationWarning)
        return load_agent(model)


def message(item: Dict[str, Any], sender: str = "s") -> UserMessage:
    return UserMessage(item["text"], sender_id=sender, metadata=item.get("metadata"))


class CountingAgent:
    """The agent seen by a channel, counting the parses its processor makes."""

    def __init__(self, agent: Any) -> None:
        self.processor = CountingProcessor(agent.processor)


class CountingProcessor:
    def __init__(self, processor: Any) -> None:
        self.model_metadata = processor.model_metadata
        self._processor = processor
        self.parses = 0

    async def parse_message(self, message: UserMessage, tracker: Optional[DialogueStateTracker] = None) -> Any:
        self.parses += 1
        return await self._processor.parse_message(message, tracker)


async def test_a_cached_parse_equals_rasas_own_parse_with_the_conversation(agent: Any) -> None:
    channel = CachedParseRestInput(cache_size=64)
    counting = CountingAgent(agent)
    history = DialogueStateTracker.from_events("s", [UserUttered("hi", {"name": "greet", "confidence": 1.0})])
    for item in TEXTS:
        first = await channel.parse(counting, message(item))
        again = await channel.parse(counting, message(item))
        own = await agent.processor.parse_message(message(item), history)  # as Rasa parses in a conversation
        assert first == again == own, item
    assert counting.processor.parses == len(TEXTS)  # each text parsed once; every second lookup was a hit


async def test_the_language_preference_is_part_of_the_key(agent: Any) -> None:
    channel = CachedParseRestInput(cache_size=64)
    zh = await channel.parse(agent, UserMessage("12000", metadata={"language": "zh"}))
    en = await channel.parse(agent, UserMessage("12000", metadata={"language": "en"}))
    languages = [[e["value"] for e in parse["entities"] if e["entity"] == "language"] for parse in (zh, en)]
    assert languages == [["zh"], ["en"]]


async def test_a_turn_with_the_cached_parse_is_the_turn_rasa_takes_itself(agent: Any) -> None:
    channel = CachedParseRestInput(cache_size=64)
    for item in TEXTS[:4]:
        plain, cached = f"plain-{uuid.uuid4().hex}", f"cached-{uuid.uuid4().hex}"
        await agent.handle_message(message(item, plain))
        with_parse = message(item, cached)
        with_parse.parse_data = await channel.parse(agent, with_parse)
        await agent.handle_message(with_parse)
        turns = []
        for sender in (plain, cached):
            tracker = await agent.tracker_store.retrieve(sender)
            parse = {key: value for key, value in tracker.latest_message.parse_data.items() if key != "message_id"}
            turns.append((parse, [e.as_dict()["event"] for e in tracker.events]))
        assert turns[0] == turns[1], item


@pytest.fixture()
def redis_url() -> str:
    """The machine's Redis (fails in CI, skips elsewhere, when it is down)."""
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=2).close()
    except OSError:
        unavailable("Redis is not reachable at 127.0.0.1:6379")
    return "redis://127.0.0.1:6379/0"


async def test_workers_share_parses_through_redis(agent: Any, redis_url: str) -> None:
    text = f"what is the VAT rate for consulting services {uuid.uuid4().hex[:6]}"
    first, second = (CachedParseRestInput(cache_size=8, redis_url=redis_url) for _ in range(2))
    one, two = CountingAgent(agent), CountingAgent(agent)
    try:
        parsed = await first.parse(one, UserMessage(text))
        shared = await second.parse(two, UserMessage(text))
    finally:
        await first.cache.close()
        await second.cache.close()
    assert parsed == shared
    assert (one.processor.parses, two.processor.parses) == (1, 0)


async def test_a_redis_outage_costs_a_parse_not_a_reply(agent: Any) -> None:
    channel = CachedParseRestInput(cache_size=8, redis_url="redis://127.0.0.1:1/0")  # nothing listens there
    counting = CountingAgent(agent)
    try:
        started = asyncio.get_running_loop().time()
        parse = await channel.parse(counting, UserMessage("thanks a lot"))
        assert parse is not None and parse["intent"]["name"] == "thanks"
        assert asyncio.get_running_loop().time() - started < 5
    finally:
        await channel.cache.close()


async def test_the_memory_cache_keeps_the_most_recently_used() -> None:
    cache = MemoryParseCache(2)
    for key in ("a", "b"):
        await cache.put(key, {"text": key})
    await cache.get("a")
    await cache.put("c", {"text": "c"})
    assert [await cache.get(key) for key in ("a", "b", "c")] == [{"text": "a"}, None, {"text": "c"}]
    stored = await cache.get("a")
    assert stored is not None
    stored["text"] = "changed"  # a caller's change does not reach the cache
    assert await cache.get("a") == {"text": "a"}


def test_keys_differ_by_model_text_and_language_only() -> None:
    base = parse_key("m1", "hello", {"language": "en", "taxguide_turn": "1"})
    assert base == parse_key("m1", "hello", {"language": "en", "taxguide_turn": "2"})
    assert len({base, parse_key("m2", "hello", {"language": "en"}), parse_key("m1", "hello!", {"language": "en"}),
                parse_key("m1", "hello", {"language": "zh"}), parse_key("m1", "hello", None)}) == 5
    assert parse_key("m1", "hello", {"language": "fr"}) == parse_key("m1", "hello", None)


async def test_redis_is_used_only_with_a_url() -> None:
    assert isinstance(CachedParseRestInput(cache_size=4).cache, MemoryParseCache)
    shared = CachedParseRestInput(cache_size=4, redis_url="redis://127.0.0.1:6379/0")
    assert isinstance(shared.cache, RedisParseCache)
    await shared.cache.close()
