"""Several Rasa workers behind the gateway: sticky routing by conversation, turns in order, no cross-talk."""
from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, Dict, List

import aiohttp
import pytest
import pytest_asyncio

from bot.app import create_app
from bot.keys import SERVICE
from bot.rasa_client import RasaClient, pick_worker
from bot.service import APOLOGY_KIND
from bot.settings import Settings, SettingsError
from tests.bot.conftest import FakeRasa

URL = "/webhooks/rest/webhook"


def tagged(name: str):  # type: ignore[no-untyped-def]
    """A reply saying which worker answered, for whom, and to what."""

    def reply(sender: str, message: str) -> List[Dict[str, Any]]:
        return [{"recipient_id": sender, "text": f"{name}|{sender}|{message}"}]

    return reply


@pytest_asyncio.fixture
async def workers(fake_rasa: FakeRasa):  # type: ignore[no-untyped-def]
    """Two fake Rasa servers: the conftest one and a second one."""
    second = FakeRasa()
    await second.start()
    fake_rasa.reply = tagged("w1")
    second.reply = tagged("w2")
    yield {fake_rasa.url: fake_rasa, second.url: second}
    await second.stop()


@pytest_asyncio.fixture
async def gateway(aiohttp_client, make_settings, workers):  # type: ignore[no-untyped-def]
    urls = tuple(workers)
    # a shared (Redis) tracker store: a conversation moved to another worker keeps its context there
    return await aiohttp_client(create_app(make_settings(rasa_url=urls[0], rasa_urls=urls, rasa_shared_tracker=True)))


async def test_each_conversation_sticks_to_one_worker(gateway, workers) -> None:  # type: ignore[no-untyped-def]
    senders = [f"taxpayer-{i}" for i in range(24)]
    for turn in range(3):
        for sender in senders:
            resp = await gateway.post(URL, json={"sender": sender, "message": f"turn {turn}"})
            assert resp.status == 200
            [reply] = await resp.json()
            name, _, text = reply["text"].split("|")
            assert text == f"turn {turn}"
    seen = {url: {body["sender"] for body in fake.received} for url, fake in workers.items()}
    first, second = seen.values()
    assert first and second, "conversations must be spread over both workers"
    assert not first & second, "a conversation must never move to another worker"
    assert len(first | second) == len(senders)
    for url, fake in workers.items():
        for conversation in seen[url]:
            said = [b["message"] for b in fake.received if b["sender"] == conversation]
            assert said == ["turn 0", "turn 1", "turn 2"]
            assert pick_worker(tuple(workers), conversation) == url


async def test_concurrent_conversations_never_get_each_others_replies(gateway, workers) -> None:  # type: ignore[no-untyped-def]
    for fake in workers.values():
        fake.delay = 0.02

    async def talk(sender: str) -> List[str]:
        texts = []
        for turn in range(4):
            resp = await gateway.post(URL, json={"sender": sender, "message": f"{sender} says {turn}"})
            [reply] = await resp.json()
            _, recipient, text = reply["text"].split("|")
            texts.append((recipient, reply["recipient_id"], text))
        return texts

    senders = [f"c{i}" for i in range(16)]
    results = await asyncio.gather(*(talk(s) for s in senders))
    for sender, texts in zip(senders, results):
        assert [text for _, _, text in texts] == [f"{sender} says {turn}" for turn in range(4)]
        assert len({(r, rid) for r, rid, _ in texts}) == 1, "every reply names the conversation it belongs to"
    assert len({texts[0][0] for texts in results}) == len(senders)


async def test_turns_of_one_conversation_reach_rasa_one_at_a_time_in_order(workers) -> None:  # type: ignore[no-untyped-def]
    in_flight: Dict[str, int] = {}
    overlap: List[str] = []

    for fake in workers.values():
        original = fake._webhook

        async def webhook(request, original=original):  # type: ignore[no-untyped-def]
            sender = (await request.json())["sender"]
            in_flight[sender] = in_flight.get(sender, 0) + 1
            if in_flight[sender] > 1:
                overlap.append(sender)
            try:
                return await original(request)
            finally:
                in_flight[sender] -= 1

        fake._webhook = webhook  # type: ignore[method-assign]
        fake.delay = 0.05
        await fake.stop()
        await fake.start()

    async with aiohttp.ClientSession() as session:
        client = RasaClient(session, list(workers), aiohttp.ClientTimeout(total=5))
        started = asyncio.get_running_loop().time()
        tasks = [asyncio.create_task(client.send(sender, f"{sender}-{n}"))
                 for n in range(5) for sender in ("a", "b", "c")]
        replies = await asyncio.gather(*tasks)
        elapsed = asyncio.get_running_loop().time() - started
        assert len(client._turns) == 0, "locks of finished conversations are dropped"
    assert not overlap
    for sender in ("a", "b", "c"):
        worker = workers[client.worker_for(sender)]
        assert [b["message"] for b in worker.received if b["sender"] == sender] == [f"{sender}-{n}" for n in range(5)]
    for task_index, reply in enumerate(replies):
        n, sender = divmod(task_index, 3)
        assert reply[0]["text"].endswith(f"|{('a', 'b', 'c')[sender]}|{('a', 'b', 'c')[sender]}-{n}")
    assert elapsed < 3 * 5 * 0.05, "different conversations still run in parallel"


def test_routing_is_consistent_when_a_worker_is_added() -> None:
    two = ("http://127.0.0.1:5005", "http://127.0.0.1:5006")
    three = two + ("http://127.0.0.1:5007",)
    ids = [f"conversation-{i}" for i in range(600)]
    before = {c: pick_worker(two, c) for c in ids}
    after = {c: pick_worker(three, c) for c in ids}
    moved = [c for c in ids if before[c] != after[c]]
    assert all(after[c] == three[2] for c in moved), "only moves to the new worker"
    assert 100 < len(moved) < 300, "about a third moves"
    counts = [sum(1 for c in ids if before[c] == w) for w in two]
    assert min(counts) > 240
    assert pick_worker(two, "abc") == pick_worker(tuple(reversed(two)), "abc"), "independent of the order"


def test_rasa_urls_setting() -> None:
    settings = Settings.from_env({"RASA_URLS": " http://127.0.0.1:5005/, http://127.0.0.1:5006 ,", "RASA_URL": "http://x:1"})
    assert settings.rasa_urls == ("http://127.0.0.1:5005", "http://127.0.0.1:5006")
    assert settings.rasa_workers == settings.rasa_urls and settings.rasa_url == "http://127.0.0.1:5005"
    single = Settings.from_env({"RASA_URL": "http://127.0.0.1:7000/"})
    assert single.rasa_urls == () and single.rasa_workers == ("http://127.0.0.1:7000",)
    assert replace(single, rasa_url="http://h:1").rasa_workers == ("http://h:1",)
    with pytest.raises(SettingsError):
        Settings.from_env({"RASA_URLS": "http://a:1,http://a:1/"})


async def test_a_worker_that_refuses_connections_fails_over_to_the_next(gateway, workers) -> None:  # type: ignore
    """Conversations of a stopped worker are answered by the next worker in their ranking, the same one
    every time; the stopped worker is not tried again for each message; when it returns it gets them back."""
    urls = list(workers)
    dead_url, live_url = urls[0], urls[1]
    owned: Dict[str, str] = {}  # sender -> its conversation id, for conversations of the first worker
    for sender in (f"taxpayer-{i}" for i in range(40)):
        name, conversation, _ = (await (await gateway.post(URL, json={"sender": sender, "message": "hi"})).json()
                                 )[0]["text"].split("|")
        if name == "w1" and len(owned) < 4:
            owned[sender] = conversation
    assert owned, "some conversations must belong to the first worker"
    rasa = gateway.server.app[SERVICE].rasa
    rasa.down_seconds = 0.5  # skipped for half a second after a refusal (5 s in service)
    await workers[dead_url].stop()
    skipped = []
    for turn in range(2):
        for sender, conversation in owned.items():
            resp = await gateway.post(URL, json={"sender": sender, "message": f"turn {turn}"})
            skipped.append(rasa.is_down(dead_url))  # right after the refusal, before the half second is over
            [reply] = await resp.json()
            assert reply["text"] == f"w2|{conversation}|turn {turn}", "answered by the other worker, not an apology"
    assert {body["sender"] for body in workers[live_url].received} >= set(owned.values())
    assert skipped[0]
    await workers[dead_url].start()  # back on its port
    for _ in range(100):  # the back-off is over and the prober has seen it answer (RASA_PROBE_INTERVAL)
        if not rasa.is_down(dead_url):
            break
        await asyncio.sleep(0.05)
    sender, conversation = next(iter(owned.items()))
    resp = await gateway.post(URL, json={"sender": sender, "message": "again"})
    assert (await resp.json())[0]["text"] == f"w1|{conversation}|again"


async def test_every_worker_down_gives_the_apology(gateway, workers) -> None:  # type: ignore[no-untyped-def]
    for fake in workers.values():
        await fake.stop()
    resp = await gateway.post(URL, json={"sender": "taxpayer-x", "message": "hello"})
    assert resp.status == 200 and (await resp.json())[0]["custom"]["kind"] == APOLOGY_KIND
