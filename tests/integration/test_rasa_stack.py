"""The real chain: Rasa server (trained model) + action server, over Rasa's REST channel."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from scripts import stack

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def rasa_url() -> Iterator[str]:
    with stack.running(stack.environment(), gateway=False) as ports:
        yield f"http://127.0.0.1:{ports.rasa}"


def say(rasa_url: str, sender: str, text: str) -> List[Dict[str, Any]]:
    body = json.dumps({"sender": sender, "message": text}).encode()
    request = urllib.request.Request(f"{rasa_url}/webhooks/rest/webhook", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def custom_of(messages: List[Dict[str, Any]]) -> Dict[str, Any]:
    customs = [m["custom"] for m in messages if "custom" in m]
    assert customs, messages
    return customs[-1]


def test_a_tax_question_is_answered_with_source_and_effective_date(rasa_url: str) -> None:
    messages = say(rasa_url, "it-1", "how much can I earn before income tax kicks in")
    custom = custom_of(messages)
    assert custom["kind"] == "answer" and custom["article_id"] == "iit-basic-deduction"
    assert custom["sources"][0]["effective_date"] == "2019-01-01"
    assert any("Source:" in m.get("text", "") for m in messages)


def test_clarify_buttons_answer_the_chosen_article(rasa_url: str) -> None:
    custom = custom_of(say(rasa_url, "it-2", "deduction"))
    assert custom["kind"] == "clarify"
    buttons = next(m["buttons"] for m in say(rasa_url, "it-2b", "deduction") if m.get("buttons"))
    assert len(buttons) == 3
    answer = custom_of(say(rasa_url, "it-2", buttons[1]["payload"]))
    assert answer["kind"] == "answer" and answer["article_id"] == json.loads(buttons[1]["payload"][17:])["article_id"]


@pytest.mark.parametrize(
    "text, kind",
    [("hi", "smalltalk"), ("thanks", "smalltalk"), ("bye", "smalltalk"), ("are you a bot?", "smalltalk"),
     ("what can you do?", "smalltalk"), ("find me a flight to Chengdu", "out_of_scope"),
     ("can I speak to someone", "handoff")],
)
def test_smalltalk_and_out_of_scope_get_fitting_replies(rasa_url: str, text: str, kind: str) -> None:
    messages = say(rasa_url, f"it-{text}", text)
    assert custom_of(messages)["kind"] == kind
    assert all(m.get("custom", {}).get("article_id") is None for m in messages)


def test_a_text_asked_again_gets_the_same_reply_from_the_parse_cache(rasa_url: str) -> None:
    # credentials.yml's REST channel (nlu/channel.py) parses the first and reuses that parse for the second
    for text in ("个人所得税起征点是多少", "what is the VAT rate for consulting services"):
        first, again = say(rasa_url, "it-cache-1", text), say(rasa_url, "it-cache-2", text)
        assert custom_of(first)["kind"] == "answer"
        assert [{**m, "recipient_id": ""} for m in first] == [{**m, "recipient_id": ""} for m in again]
