"""Rasa renders the bot's replies without template errors: a clarify turn through Rasa's own remote-action
code (RemoteAction calling a real rasa-sdk executor over HTTP) and every domain.yml response through Rasa's
templated NLG, both with structlog captured. No trained model is needed: Rasa fills response templates
after the policies chose the action, so these are the code paths that log ``interpolator.interpolate.text``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from aiohttp import web
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig
from rasa_sdk.executor import ActionExecutor
from structlog.testing import capture_logs

from actions.knowledge import ActionAnswerKnowledge

# pykwalify (Rasa's domain schema check) loads its extensions with the deprecated load_module()
pytestmark = pytest.mark.filterwarnings(r"ignore:the load_module\(\) method is deprecated:DeprecationWarning")

ROOT = Path(__file__).resolve().parents[2]
PAYLOAD = re.compile(r"^/(?P<intent>\w+)(?P<entities>\{.*\})?$")


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


def tracker_after(domain: Domain, text: str, language: str) -> DialogueStateTracker:
    parse = {"text": text, "intent": {"name": "ask_tax_question", "confidence": 0.9}, "entities": []}
    return DialogueStateTracker.from_events(
        "taxpayer-1", [SlotSet("language", language), UserUttered(text, parse["intent"], [], parse)], domain.slots)


def errors(logs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [entry for entry in logs if entry.get("log_level") in ("error", "critical", "exception")]


def check_payload(payload: str) -> Tuple[str, Dict[str, Any]]:
    """A button payload is Rasa's ``/intent{json}`` shorthand with valid JSON."""
    match = PAYLOAD.match(payload)
    assert match, payload
    return match["intent"], json.loads(match["entities"] or "{}")


@pytest.mark.parametrize("language", ["en", "zh"])
async def test_a_clarify_turn_logs_no_template_error(aiohttp_server, domain, knowledge_service, language) -> None:
    executor = ActionExecutor()
    executor.register_action(ActionAnswerKnowledge(knowledge_service))

    async def webhook(request: web.Request) -> web.Response:  # what rasa-sdk's action server does
        return web.json_response(await executor.run(await request.json()))

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    server = await aiohttp_server(app)
    action = RemoteAction("action_answer_knowledge", EndpointConfig(f"http://127.0.0.1:{server.port}/webhook"))
    output = CollectingOutputChannel()
    question = "deduction" if language == "en" else "税率"
    with capture_logs() as logs:
        events = await action.run(output, TemplatedNaturalLanguageGenerator(domain.responses),
                                  tracker_after(domain, question, language), domain)
    uttered = [e for e in events if e.type_name == "bot"]
    assert len(uttered) == 1 and uttered[0].data["custom"]["kind"] == "clarify", uttered
    assert errors(logs) == []
    assert len(uttered[0].data["buttons"]) == 3
    for button in uttered[0].data["buttons"]:
        assert check_payload(button["payload"])[0] == "ask_tax_question"


async def test_every_domain_response_renders_without_template_errors(domain) -> None:
    nlg = TemplatedNaturalLanguageGenerator(domain.responses)
    checked = 0
    for language in ("en", "zh"):
        tracker = DialogueStateTracker.from_events("taxpayer-1", [SlotSet("language", language)], domain.slots)
        for name in domain.responses:
            with capture_logs() as logs:
                reply = await nlg.generate(name, tracker, "socketio")
            assert reply is not None, name
            assert errors(logs) == [], (name, language, errors(logs))
            for button in reply.get("buttons") or []:
                intent, entities = check_payload(button["payload"])
                if intent == "ask_tax_question":
                    assert set(entities) == {"article_id"}, button
                checked += 1
    assert checked >= 6  # utter_capabilities' topic buttons, in both languages
