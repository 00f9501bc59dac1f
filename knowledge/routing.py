"""How far the knowledge base may answer a message, given what the NLU made of it.

The NLU's intent is one feature of the decision, not the last word: on unseen phrasing it calls about
one tax question in twenty `out_of_scope` or `inform` ("首套房契税1%还是1.5%" reads like figures for a
calculator). So:

- `FULL`: tax questions and what the NLU did not understand: answer, clarify or say out of scope;
- `SURE`: `out_of_scope`, and figures outside a calculation (`inform` without a calculator named): the
  retriever's answer only when it decides to answer; otherwise the intent's own reply (the polite "not
  my field", or "which calculation?"), never clarify buttons, so off-topic chat is not shown articles;
- `NONE`: every other intent keeps its own reply (small talk, a calculator, a person).

The action server (`actions.knowledge`, `actions.calculators.asking`) and `make eval`'s assistant rows
(`knowledge.evaluation`) both decide with `reach`.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any, Iterable, Mapping, Optional

from knowledge.retriever import Retrieval

FULL_INTENTS = frozenset({"ask_tax_question", "nlu_fallback"})
SURE_INTENTS = frozenset({"out_of_scope", "inform"})
#: The retriever's confidence a `SURE` message's answer needs. Chosen on the dev sets' tuning parts
#: (`make eval`, assistant rows): from 0.2 to 0.4 the tuning figures are the same, with no off-topic
#: message answered; 0.5 loses an English question. 0.4, the top of that plateau, keeps figures with a
#: unit ("30,000 yuan" scores 0.32) with the calculators' "which calculation?".
SURE_CONFIDENCE = 0.4
_WORD = re.compile(r"[^\W\d_]", re.UNICODE)  # a letter or a Chinese character: bare figures have none


class Reach(str, Enum):
    """How far the knowledge base answers a message."""

    FULL = "full"
    SURE = "sure"
    NONE = "none"


def names_calculator(entities: Iterable[Mapping[str, Any]]) -> bool:
    """True when the message names a calculator (then `inform` starts that calculator's form)."""
    return any(entity.get("entity") == "calculator" and entity.get("value") for entity in entities)


def reach(intent: Optional[str], entities: Iterable[Mapping[str, Any]] = ()) -> Reach:
    """How far the knowledge base answers a message of `intent` with `entities`, outside a calculation."""
    if intent is None or intent in FULL_INTENTS:
        return Reach.FULL
    if intent == "out_of_scope" or (intent == "inform" and not names_calculator(entities)):
        return Reach.SURE
    return Reach.NONE


def decision(result: Retrieval, route: Reach) -> str:
    """What the reply does with `result` for a message of `route`: answer, clarify or decline.

    `decline` leaves the message to its intent's own reply (or, under `FULL`, "not my field").
    """
    if route is Reach.FULL:
        return result.decision if result.decision in ("answer", "clarify") else "decline"
    if (
        route is Reach.SURE
        and result.decision == "answer"
        and result.confidence >= SURE_CONFIDENCE
        and _WORD.search(result.query)
    ):
        return "answer"
    return "decline"
